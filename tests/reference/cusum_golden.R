# Golden fixtures for epiradar.detect.temporal.cusum: surveillance::algo.cusum on series
# shipped with the surveillance package (tests/reference/datasets.R) and on a seeded synthetic
# daily series.
#
# Re-run from the repository root:  Rscript tests/reference/cusum_golden.R
# Writes tests/fixtures/cusum/:
#   data_<dataset>.csv   observed counts, one row per time index (1-based `time`), one column
#                        per series (empty = NA)
#   <dataset>.csv.gz     one row per (case, series, monitored time): `case`, `series` (0-based
#                        column), `time` (1-based, R's range), `m` (R's in-control mean),
#                        `cusum`, `upperbound`, `alarm` (1/0; empty when R gives NA)
#   manifest.csv         case, k, h, trans, alpha (empty = R's default 0.1), m ("estimated"
#                        or "given"), range_gap (offsets from the range start left out of the
#                        range), R and surveillance versions
# Every range is the last 100 time points (less the gap).
#
# algo.cusum works on one series at a time: each series is passed as list(observed = x).

source(file.path("tests", "reference", "datasets.R"))

out_dir <- file.path("tests", "fixtures", "cusum")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
unlink(Sys.glob(file.path(out_dir, "*.csv*")))

datasets <- lapply(golden_datasets(), function(d) unname(d$observed))

# Synthetic daily series: a weekly cycle with an outbreak, a sparse series with a missing
# count inside the monitored range, and a large-count series.
set.seed(20240502)
n_days <- 240
day <- seq_len(n_days)
lambda <- 6 + 2 * sin(2 * pi * day / 7)
s1 <- rpois(n_days, lambda)
s1[200:206] <- s1[200:206] + c(3, 8, 15, 20, 14, 7, 2)
s2 <- rpois(n_days, 1.5)
s2[180:182] <- c(4, 6, 9)
s2[210] <- NA
s3 <- rpois(n_days, 40)
datasets$synthetic_daily <- unname(cbind(s1, s2, s3) + 0)

# m: NULL (estimated by R from observed[1:(range[1] - 1)]) or "given" (a per-series value
# chosen here and passed as control$m).
cases <- list(
  default = list(k = 1.04, h = 2.26, trans = "standard", alpha = NULL, m = NULL, gap = FALSE),
  kh = list(k = 0.5, h = 4, trans = "standard", alpha = NULL, m = NULL, gap = FALSE),
  rossi = list(k = 1.04, h = 2.26, trans = "rossi", alpha = NULL, m = NULL, gap = FALSE),
  anscombe = list(k = 1.04, h = 2.26, trans = "anscombe", alpha = NULL, m = NULL, gap = FALSE),
  anscombe2nd = list(k = 0.8, h = 3, trans = "anscombe2nd", alpha = NULL, m = NULL, gap = FALSE),
  pearson_nb = list(k = 1.04, h = 2.26, trans = "pearsonNegBin", alpha = 0.2, m = NULL, gap = FALSE),
  pearson_nb_default = list(k = 1.04, h = 2.26, trans = "pearsonNegBin", alpha = NULL, m = NULL, gap = FALSE),
  none = list(k = 5, h = 10, trans = "none", alpha = NULL, m = NULL, gap = FALSE),
  m_given = list(k = 1.04, h = 2.26, trans = "standard", alpha = NULL, m = "given", gap = FALSE),
  m_given_rossi = list(k = 0.5, h = 5, trans = "rossi", alpha = NULL, m = "given", gap = FALSE),
  gap = list(k = 1.04, h = 2.26, trans = "standard", alpha = NULL, m = NULL, gap = TRUE)
)

n_monitor <- 100

manifest <- list()
for (name in names(datasets)) {
  obs <- datasets[[name]]
  n <- nrow(obs)
  t0 <- proc.time()[["elapsed"]]
  write_dataset_csv(obs, out_dir, name)
  start <- n - n_monitor + 1
  rows <- list()
  for (case in names(cases)) {
    p <- cases[[case]]
    rng <- start:n
    gap <- integer(0)
    if (p$gap) {
      gap <- (start + 30):(start + 39)
      rng <- setdiff(rng, gap)
    }
    for (j in seq_len(ncol(obs))) {
      x <- obs[, j]
      control <- list(range = rng, k = p$k, h = p$h, trans = p$trans)
      if (!is.null(p$alpha)) control$alpha <- p$alpha
      if (identical(p$m, "given")) control$m <- round(1.2 * mean(x[1:(start - 1)]) + 0.5, 3)
      res <- algo.cusum(list(observed = x), control = control)
      rows[[length(rows) + 1]] <- data.frame(
        case = case, series = j - 1, time = rng,
        m = fmt(rep_len(res$control$m, length(rng))), cusum = fmt(res$cusum),
        upperbound = fmt(res$upperbound),
        alarm = ifelse(is.na(res$alarm), "", as.integer(res$alarm))
      )
    }
    if (name == names(datasets)[1]) {
      manifest[[length(manifest) + 1]] <- data.frame(
        case = case, k = p$k, h = p$h, trans = p$trans,
        alpha = if (is.null(p$alpha)) "" else format(p$alpha),
        m = if (is.null(p$m)) "estimated" else p$m,
        range_gap = if (length(gap)) sprintf("%d-%d", gap[1] - start, gap[length(gap)] - start) else "",
        r_version = paste(R.version$major, R.version$minor, sep = "."),
        surveillance_version = as.character(packageVersion("surveillance"))
      )
    }
  }
  con <- gzfile(file.path(out_dir, paste0(name, ".csv.gz")), "w")
  write.csv(do.call(rbind, rows), con, row.names = FALSE, quote = FALSE)
  close(con)
  cat(sprintf("%s: %d series, %.1f s\n", name, ncol(obs), proc.time()[["elapsed"]] - t0))
}
write.csv(do.call(rbind, manifest), file.path(out_dir, "manifest.csv"), row.names = FALSE, quote = FALSE)
cat("wrote", length(manifest), "cases x", length(datasets), "datasets to", out_dir, "\n")
