# Golden fixtures for epiradar.detect.temporal.ears: surveillance::earsC (C1, C2, C3)
# on the data sets shipped with the surveillance package (tests/reference/datasets.R) and on a
# seeded synthetic daily series.
#
# Re-run from the repository root:  Rscript tests/reference/ears_golden.R
# Writes tests/fixtures/ears/:
#   data_<dataset>.csv   observed counts, one row per time index (1-based `time`), one column
#                        per series
#   <dataset>.csv.gz     one row per (case, series, monitored time): `case`, `series` (0-based
#                        column), `time` (1-based, R's default range), `upperbound`, `alarm`
#                        (1/0, empty when R gives NA)
#   manifest.csv         case, method, baseline, alpha (empty = earsC default), min_sigma,
#                        R and surveillance versions

source(file.path("tests", "reference", "datasets.R"))

out_dir <- file.path("tests", "fixtures", "ears")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
unlink(Sys.glob(file.path(out_dir, "*.csv*")))

datasets <- lapply(golden_datasets(), function(d) d$observed)

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
datasets$synthetic_daily <- cbind(s1, s2, s3) + 0

params <- list(
  list(baseline = 7, alpha = NULL, min_sigma = 0),
  list(baseline = 3, alpha = 0.01, min_sigma = 0.5),
  list(baseline = 10, alpha = 0.05, min_sigma = 1)
)

fmt17 <- function(x) fmt(x, 17)

manifest <- list()
for (method in c("C1", "C2", "C3")) {
  for (i in seq_along(params)) {
    p <- params[[i]]
    manifest[[length(manifest) + 1]] <- data.frame(
      case = sprintf("%s_%d", method, i), method = method, baseline = p$baseline,
      alpha = if (is.null(p$alpha)) "" else format(p$alpha), min_sigma = p$min_sigma,
      r_version = paste(R.version$major, R.version$minor, sep = "."),
      surveillance_version = as.character(packageVersion("surveillance"))
    )
  }
}
manifest <- do.call(rbind, manifest)

for (name in names(datasets)) {
  t0 <- proc.time()[["elapsed"]]
  obs <- unname(datasets[[name]])
  write_dataset_csv(obs, out_dir, name)
  sts_obj <- sts(observed = obs, frequency = if (name == "synthetic_daily") 365 else 52)
  rows <- list()
  for (k in seq_len(nrow(manifest))) {
    m <- manifest[k, ]
    control <- list(method = m$method, baseline = m$baseline, minSigma = m$min_sigma)
    if (m$alpha != "") control$alpha <- as.numeric(m$alpha)
    res <- earsC(sts_obj, control = control)
    rng <- res@control$range
    ub <- upperbound(res)
    al <- alarms(res)
    for (j in seq_len(ncol(obs))) {
      rows[[length(rows) + 1]] <- data.frame(
        case = m$case, series = j - 1, time = rng, upperbound = fmt17(ub[, j]),
        alarm = ifelse(is.na(al[, j]), "", as.integer(al[, j]))
      )
    }
  }
  con <- gzfile(file.path(out_dir, paste0(name, ".csv.gz")), "w")
  write.csv(do.call(rbind, rows), con, row.names = FALSE, quote = FALSE)
  close(con)
  cat(sprintf("%s: %d series, %.1f s\n", name, ncol(obs), proc.time()[["elapsed"]] - t0))
}
write.csv(manifest, file.path(out_dir, "manifest.csv"), row.names = FALSE, quote = FALSE)
cat("wrote", nrow(manifest), "cases x", length(datasets), "datasets to", out_dir, "\n")
