# Golden fixtures for epiradar.detect.temporal.ears: surveillance::earsC (C1, C2, C3)
# on series shipped with the surveillance package and on a seeded synthetic daily series.
#
# Re-run from the repository root:  Rscript tests/reference/ears_golden.R
# Writes tests/fixtures/ears/:
#   data_<dataset>.csv   observed counts, one row per time index (1-based `time`), one column
#                        per series
#   <case>.csv           `series` (0-based column), `time` (1-based), `upperbound`, `alarm`
#                        (1/0, empty when R gives NA) for every monitored time index
#   manifest.csv         case, dataset, method, baseline, alpha (empty = earsC default),
#                        min_sigma, R and surveillance versions

suppressPackageStartupMessages(library(surveillance))

out_dir <- file.path("tests", "fixtures", "ears")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)

as_matrix <- function(x) {
  x <- as.matrix(x)
  storage.mode(x) <- "double"
  colnames(x) <- NULL
  x
}

datasets <- list()

data(salmonella.agona)
datasets$salmonella_agona <- as_matrix(salmonella.agona$observed)

data(ha.sts)
ha <- observed(ha.sts)
datasets$ha_sts <- as_matrix(cbind(rowSums(ha), ha[, c("chwi", "mitt", "scho")]))

data(campyDE)
datasets$campy_de <- as_matrix(campyDE$case)

data(measlesDE)
datasets$measles_de <- as_matrix(observed(measlesDE)[, c("Bavaria", "Berlin", "Hesse", "Saarland")])

# Synthetic daily series: a weekly cycle, a constant stretch (zero baseline sd), an outbreak.
set.seed(20240501)
n_days <- 200
day <- seq_len(n_days)
lambda <- 6 + 2 * sin(2 * pi * day / 7)
s1 <- rpois(n_days, lambda)
s1[150:156] <- s1[150:156] + c(3, 8, 15, 20, 14, 7, 2)
s2 <- rpois(n_days, 1.5)
s2[40:60] <- 2
s2[61:63] <- c(2, 5, 9)
s3 <- rpois(n_days, 40)
datasets$synthetic_daily <- as_matrix(cbind(s1, s2, s3))

params <- list(
  list(baseline = 7, alpha = NULL, min_sigma = 0),
  list(baseline = 3, alpha = 0.01, min_sigma = 0.5),
  list(baseline = 10, alpha = 0.05, min_sigma = 1)
)

fmt <- function(x) ifelse(is.na(x), "", trimws(formatC(x, digits = 17, format = "g")))

manifest <- list()
for (name in names(datasets)) {
  obs <- datasets[[name]]
  write.csv(
    data.frame(time = seq_len(nrow(obs)), setNames(as.data.frame(obs), paste0("s", seq_len(ncol(obs)) - 1))),
    file.path(out_dir, paste0("data_", name, ".csv")),
    row.names = FALSE
  )
  sts_obj <- sts(observed = obs, frequency = if (name == "synthetic_daily") 365 else 52)
  for (method in c("C1", "C2", "C3")) {
    for (i in seq_along(params)) {
      p <- params[[i]]
      control <- list(method = method, baseline = p$baseline, minSigma = p$min_sigma)
      if (!is.null(p$alpha)) control$alpha <- p$alpha
      res <- earsC(sts_obj, control = control)
      rng <- res@control$range
      ub <- upperbound(res)
      al <- alarms(res)
      case <- sprintf("%s_%s_%d", name, method, i)
      rows <- do.call(rbind, lapply(seq_len(ncol(obs)), function(j) {
        data.frame(
          series = j - 1, time = rng, upperbound = fmt(ub[, j]),
          alarm = ifelse(is.na(al[, j]), "", as.integer(al[, j]))
        )
      }))
      write.csv(rows, file.path(out_dir, paste0(case, ".csv")), row.names = FALSE, quote = FALSE)
      manifest[[length(manifest) + 1]] <- data.frame(
        case = case, dataset = name, method = method, baseline = p$baseline,
        alpha = if (is.null(p$alpha)) "" else format(p$alpha), min_sigma = p$min_sigma,
        r_version = paste(R.version$major, R.version$minor, sep = "."),
        surveillance_version = as.character(packageVersion("surveillance"))
      )
    }
  }
}
write.csv(do.call(rbind, manifest), file.path(out_dir, "manifest.csv"), row.names = FALSE, quote = FALSE)
cat("wrote", length(manifest), "cases to", out_dir, "\n")
