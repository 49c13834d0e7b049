# Golden fixtures for epiradar.detect.temporal.glr: surveillance::algo.glrpois and
# algo.glrnb (change = "intercept", dir = "inc", Mtilde = 1, mu0 given) on series shipped
# with the surveillance package (tests/reference/datasets.R) and on a seeded synthetic daily
# series.
#
# Re-run from the repository root:  Rscript tests/reference/glr_golden.R
# Writes tests/fixtures/glr/:
#   data_<dataset>.csv   observed counts, one row per time index (1-based `time`), one column
#                        per series
#   <dataset>.csv.gz     one row per (case, series, monitored time): `case`, `series` (0-based
#                        column), `time` (1-based, R's range), `mu0` (the in-control mean passed
#                        as control$mu0), `value` (R's upperbound with ret = "value", i.e. the
#                        GLR/LR statistic), `cases` (R's upperbound with ret = "cases"; empty
#                        when the case does not ask for it, and for the negative binomial
#                        GLR cases on campy_de, ha_sts and measles_de, whose brute force is
#                        too slow in R),
#                        `alarm` (1/0); all four empty where R refuses the series (the GLM
#                        mu0 it estimates is not finite: "NA/NaN/Inf in foreign function call")
#   manifest.csv         case, model (pois/nb), c_arl, m_window (R's M), theta (empty = NULL),
#                        alpha (empty = Poisson), mu0 ("series": one value per series;
#                        "point": one per monitored point; "glm": estimated by R with
#                        control$mu0 = list(S = harmonics, trend = trend)), harmonics, trend,
#                        cases (1 = ret "cases" recorded), range_gap, R and surveillance versions
#   freq.csv             dataset, freq (time points per year, R's disProgObj$freq)
# Every range is the last 100 time points (less the gap). mu0 per series is
# round(1.2 * mean(baseline) + 0.5, 3), the baseline being every count before the range; the
# per-point mu0 multiplies it by 1 + 0.3 sin(2 pi t / 52), rounded to 3 decimals; "glm" leaves
# mu0 to R (a Poisson or, with alpha, negative binomial GLM on every count before the range).

source(file.path("tests", "reference", "datasets.R"))

out_dir <- file.path("tests", "fixtures", "glr")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
unlink(Sys.glob(file.path(out_dir, "*.csv*")))

real <- golden_datasets()
datasets <- lapply(real, function(d) unname(d$observed))
freq <- c(vapply(real, function(d) d$freq, numeric(1)), synthetic_daily = 7)

# Synthetic daily series: a weekly cycle with an outbreak, a sparse series with a burst, and
# an overdispersed series with a level shift.
set.seed(20240503)
n_days <- 240
day <- seq_len(n_days)
lambda <- 6 + 2 * sin(2 * pi * day / 7)
s1 <- rpois(n_days, lambda)
s1[200:206] <- s1[200:206] + c(3, 8, 15, 20, 14, 7, 2)
s2 <- rpois(n_days, 1.5)
s2[180:182] <- c(4, 6, 9)
s3 <- rnbinom(n_days, mu = ifelse(day > 190, 30, 20), size = 8)
datasets$synthetic_daily <- unname(cbind(s1, s2, s3) + 0)

cases <- list(
  pois_default = list(c = 5, M = -1, theta = NULL, alpha = NULL, mu0 = "series", cases = TRUE, gap = FALSE),
  pois_window = list(c = 3, M = 10, theta = NULL, alpha = NULL, mu0 = "series", cases = TRUE, gap = FALSE),
  pois_window_c7 = list(c = 7, M = 30, theta = NULL, alpha = NULL, mu0 = "series", cases = FALSE, gap = FALSE),
  pois_lr = list(c = 5, M = -1, theta = 0.4, alpha = NULL, mu0 = "series", cases = TRUE, gap = FALSE),
  pois_point = list(c = 4, M = -1, theta = NULL, alpha = NULL, mu0 = "point", cases = TRUE, gap = FALSE),
  pois_lr_point = list(c = 3, M = -1, theta = 0.7, alpha = NULL, mu0 = "point", cases = TRUE, gap = FALSE),
  pois_gap = list(c = 5, M = 20, theta = NULL, alpha = NULL, mu0 = "series", cases = FALSE, gap = TRUE),
  nb_default = list(c = 5, M = -1, theta = NULL, alpha = 0.2, mu0 = "series", cases = TRUE, gap = FALSE),
  nb_window = list(c = 4, M = 15, theta = NULL, alpha = 0.1, mu0 = "series", cases = TRUE, gap = FALSE),
  nb_point = list(c = 6, M = -1, theta = NULL, alpha = 0.3, mu0 = "point", cases = FALSE, gap = FALSE),
  nb_lr = list(c = 5, M = -1, theta = 0.5, alpha = 0.2, mu0 = "series", cases = TRUE, gap = FALSE),
  nb_lr_point = list(c = 2, M = -1, theta = 0.3, alpha = 0.05, mu0 = "point", cases = TRUE, gap = FALSE),
  pois_glm = list(c = 5, M = -1, theta = NULL, alpha = NULL, mu0 = "glm", S = 1, trend = FALSE, cases = TRUE, gap = FALSE),
  pois_glm_trend = list(c = 4, M = 20, theta = NULL, alpha = NULL, mu0 = "glm", S = 2, trend = TRUE, cases = FALSE, gap = FALSE),
  nb_glm = list(c = 5, M = -1, theta = NULL, alpha = 0.2, mu0 = "glm", S = 1, trend = TRUE, cases = TRUE, gap = FALSE),
  nb_lr_glm = list(c = 3, M = -1, theta = 0.6, alpha = 0.1, mu0 = "glm", S = 0, trend = FALSE, cases = TRUE, gap = FALSE)
)

n_monitor <- 100
nb_glr_cases <- c("salmonella_agona", "shadar", "sts_newport", "synthetic_daily")

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
      mu0 <- round(1.2 * mean(x[1:(start - 1)]) + 0.5, 3)
      if (p$mu0 == "point") mu0 <- round(mu0 * (1 + 0.3 * sin(2 * pi * rng / 52)), 3)
      mu0 <- rep_len(mu0, length(rng))
      if (p$mu0 == "glm") mu0 <- list(S = p$S, trend = p$trend)
      control <- list(range = rng, c.ARL = p$c, M = p$M, mu0 = mu0, ret = "value")
      if (!is.null(p$theta)) control$theta <- p$theta
      run <- function(ret) {
        control$ret <- ret
        if (is.null(p$alpha)) {
          suppressMessages(algo.glrpois(list(observed = x, freq = freq[[name]]), control = control))
        } else {
          control$alpha <- p$alpha
          suppressMessages(algo.glrnb(list(observed = x, freq = freq[[name]]), control = control))
        }
      }
      value <- tryCatch(run("value"), error = function(e) e)
      if (inherits(value, "error")) {
        # R refuses a GLM mu0 that is not finite (a sparse baseline with a trend: a single
        # count in measlesDE's 56 baseline weeks): every output of the series left empty.
        stopifnot(identical(p$mu0, "glm"), grepl("NA/NaN/Inf", conditionMessage(value)))
        rows[[length(rows) + 1]] <- data.frame(
          case = case, series = j - 1, time = rng, mu0 = "", value = "", cases = "", alarm = ""
        )
        next
      }
      mu0 <- value$control$mu0
      bound <- rep(NA_real_, length(rng))
      # R's negative binomial GLR with ret = "cases" reruns the whole chart for every count tried
      # between the observed one and the bound (up to xMax = 10000): far too slow for the large
      # campyDE counts, and minutes per series on some sparse ha.sts districts (with the GLM
      # mu0), so it is recorded on the single-series data sets and the synthetic one only.
      if (p$cases && (is.null(p$alpha) || !is.null(p$theta) || name %in% nb_glr_cases)) {
        by_cases <- run("cases")
        stopifnot(identical(as.vector(by_cases$alarm), as.vector(value$alarm)))
        bound <- as.vector(by_cases$upperbound)
      }
      rows[[length(rows) + 1]] <- data.frame(
        case = case, series = j - 1, time = rng, mu0 = fmt(mu0),
        value = fmt(as.vector(value$upperbound)), cases = fmt(bound),
        alarm = as.integer(as.vector(value$alarm))
      )
    }
    if (name == names(datasets)[1]) {
      manifest[[length(manifest) + 1]] <- data.frame(
        case = case, model = if (is.null(p$alpha)) "pois" else "nb", c_arl = p$c,
        m_window = p$M, theta = if (is.null(p$theta)) "" else format(p$theta),
        alpha = if (is.null(p$alpha)) "" else format(p$alpha), mu0 = p$mu0,
        harmonics = if (is.null(p$S)) "" else p$S, trend = if (is.null(p$trend)) "" else as.integer(p$trend),
        cases = as.integer(p$cases),
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
write.csv(data.frame(dataset = names(freq), freq = freq), file.path(out_dir, "freq.csv"), row.names = FALSE, quote = FALSE)
cat("wrote", length(manifest), "cases x", length(datasets), "datasets to", out_dir, "\n")
