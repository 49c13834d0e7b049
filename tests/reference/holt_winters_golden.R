# Golden fixtures for epiradar.detect.temporal.holt_winters: stats::HoltWinters (additive,
# fixed alpha/beta/gamma, R's default start values) and predict.HoltWinters one step ahead
# with its prediction interval, refitted prospectively on the data up to each monitored day.
#
# Re-run from the repository root:  Rscript tests/reference/holt_winters_golden.R
# Writes tests/fixtures/holt_winters/:
#   data_<dataset>.csv   observed counts, one row per time index (1-based `time`), one column
#                        per series
#   <dataset>.csv.gz     one row per (case, series, monitored time): `case`, `series` (0-based
#                        column), `time` (1-based), `fit` and `upr` of
#                        predict(HoltWinters(ts(x[1:(time - 1)], frequency = period), ...),
#                        n.ahead = 1, prediction.interval = TRUE, level = level). The script
#                        checks that `fit` equals the filter's fitted value at `time` from one
#                        fit on the whole series (fitted[t] only uses data before t).
#   periods.csv          dataset, series, period (the ts frequency; monitored times start at
#                        2 * period + 1)
#   manifest.csv         case, alpha, beta ("FALSE" = no trend), gamma, level, R version
#
# Data sets: the weekly data sets shipped with surveillance (tests/reference/datasets.R,
# period 52), and `synthetic`: a seeded synthetic daily series with a weekly cycle and an
# outbreak, a seeded large-count daily series with a trend (both period 7), and R's `nottem`
# (monthly, period 12: an even period, whose decompose filter differs) and `co2`, all cut to
# 120 time points.

source(file.path("tests", "reference", "datasets.R"))

out_dir <- file.path("tests", "fixtures", "holt_winters")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
unlink(Sys.glob(file.path(out_dir, "*.csv*")))

real <- golden_datasets()
datasets <- lapply(real, function(d) unname(d$observed))
periods <- lapply(real, function(d) rep(d$freq, ncol(d$observed)))

set.seed(20261126)
n <- 120
day <- seq_len(n)
s1 <- rpois(n, 8 + 3 * sin(2 * pi * day / 7) + 2 * (day %% 7 == 1))
s1[95:101] <- s1[95:101] + c(2, 6, 12, 18, 11, 5, 2)
s2 <- rpois(n, 60 + 0.3 * day + 10 * cos(2 * pi * day / 7))
s3 <- as.numeric(nottem)[1:n]
s4 <- as.numeric(co2)[1:n]
datasets$synthetic <- unname(cbind(s1, s2, s3, s4))
periods$synthetic <- c(7, 7, 12, 12)

cases <- list(
  base = list(alpha = 0.3, beta = 0.1, gamma = 0.1, level = 0.95),
  smooth = list(alpha = 0.1, beta = 0.01, gamma = 0.3, level = 0.99),
  no_trend = list(alpha = 0.5, beta = FALSE, gamma = 0.2, level = 0.9),
  extremes = list(alpha = 1, beta = 0, gamma = 1, level = 0.95)
)


for (name in names(datasets)) {
  t0 <- proc.time()[["elapsed"]]
  data <- datasets[[name]]
  n <- nrow(data)
  write_dataset_csv(data, out_dir, name)
  rows <- list()
  for (case in names(cases)) {
    p <- cases[[case]]
    for (j in seq_len(ncol(data))) {
      f <- periods[[name]][j]
      x <- data[, j]
      first <- 2 * f + 1  # needs 2 full periods before the monitored day
      whole <- HoltWinters(ts(x, frequency = f), alpha = p$alpha, beta = p$beta,
                           gamma = p$gamma, seasonal = "additive")
      xhat <- as.numeric(whole$fitted[, "xhat"])  # for times f+1..n
      times <- first:n
      fit <- upr <- numeric(length(times))
      for (k in seq_along(times)) {
        t <- times[k]
        hw <- HoltWinters(ts(x[1:(t - 1)], frequency = f), alpha = p$alpha, beta = p$beta,
                          gamma = p$gamma, seasonal = "additive")
        pr <- predict(hw, n.ahead = 1, prediction.interval = TRUE, level = p$level)
        fit[k] <- pr[1, "fit"]
        upr[k] <- pr[1, "upr"]
      }
      fitted <- xhat[times - f]
      stopifnot(isTRUE(all.equal(fit, fitted, tolerance = 1e-12)))
      rows[[length(rows) + 1]] <- data.frame(
        case = case, series = j - 1, time = times, fit = fmt(fit), upr = fmt(upr)
      )
    }
  }
  con <- gzfile(file.path(out_dir, paste0(name, ".csv.gz")), "w")
  write.csv(do.call(rbind, rows), con, row.names = FALSE, quote = FALSE)
  close(con)
  cat(sprintf("%s: %d series, %.1f s\n", name, ncol(data), proc.time()[["elapsed"]] - t0))
}

manifest <- do.call(rbind, lapply(names(cases), function(case) {
  p <- cases[[case]]
  data.frame(
    case = case, alpha = p$alpha, beta = if (isFALSE(p$beta)) "FALSE" else format(p$beta),
    gamma = p$gamma, level = p$level,
    r_version = paste(R.version$major, R.version$minor, sep = ".")
  )
}))
write.csv(
  do.call(rbind, lapply(names(datasets), function(name) {
    data.frame(dataset = name, series = seq_along(periods[[name]]) - 1, period = periods[[name]])
  })),
  file.path(out_dir, "periods.csv"), row.names = FALSE, quote = FALSE
)
write.csv(manifest, file.path(out_dir, "manifest.csv"), row.names = FALSE, quote = FALSE)
cat("wrote", length(cases), "cases x", length(datasets), "datasets to", out_dir, "\n")
