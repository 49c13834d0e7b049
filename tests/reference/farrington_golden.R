# Golden fixtures for epiradar.detect.temporal.farrington: surveillance::farringtonFlexible on
# the weekly series shipped with the surveillance package (tests/reference/datasets.R; all but
# measles_de, too short) and a seeded synthetic weekly series, each wrapped as
# sts(observed, freq = 52) (so epochAsDate = FALSE: reference weeks are the time index minus
# multiples of freq).
#
# Re-run from the repository root:  Rscript tests/reference/farrington_golden.R
# Writes tests/fixtures/farrington/:
#   data_<dataset>.csv   observed counts, one row per time index (1-based `time`), one column
#                        per series
#   <dataset>.csv.gz     one row per (case, series, monitored time): `case`, `series` (0-based
#                        column), `time` (1-based, R's range), `expected` (control$expected),
#                        `upperbound`, `alarm` (1/0; NA -> empty), `score` (control$score),
#                        `pvalue` (control$pvalue); empty = NA
#                        (R leaves `expected` at 0 where no model converges: a 0 with an
#                        empty pvalue)
#   manifest.csv         case and its control (R names), R and surveillance versions
# Every range is the last n_monitor weeks of the series. Every series has the synthetic
# population 100000 + 150 t (t the 1-based time index), used by the populationOffset cases.

source(file.path("tests", "reference", "datasets.R"))

out_dir <- file.path("tests", "fixtures", "farrington")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
unlink(Sys.glob(file.path(out_dir, "*.csv*")))

# measles_de (156 weeks) is too short: every case needs b years of history (b >= 3) before
# the first monitored week.
real <- golden_datasets()
real$measles_de <- NULL
datasets <- lapply(real, function(d) unname(d$observed))
n_monitor <- c(salmonella_agona = 48, ha_sts = 26, shadar = 31, sts_newport = 104,
               campy_de = 104, synthetic = 51)

# Synthetic weekly series: all zeros (R's GLM does not converge: no result), a sparse series
# with missing counts, and a seasonal series with an outbreak and missing counts.
set.seed(7)
n_syn <- 330
s1 <- rep(0, n_syn)
s2 <- rpois(n_syn, 0.3)
s2[c(40, 100, 301, 320)] <- NA
s3 <- rpois(n_syn, 5 + 2 * sin(2 * pi * seq_len(n_syn) / 52))
s3[310:313] <- s3[310:313] + c(8, 15, 12, 6)
s3[c(56, 108, 200)] <- NA
datasets$synthetic <- unname(cbind(s1, s2, s3) + 0)

# NULL pastWeeksNotIncluded = w (R's default).
cases <- list(
  original = list(noPeriods = 1, weightsThreshold = 1, thresholdMethod = "delta"),
  r_default = list(),
  improved = list(noPeriods = 10, weightsThreshold = 2.58, pastWeeksNotIncluded = 26,
                  pThresholdTrend = 1, thresholdMethod = "nbPlugin"),
  improved_muan = list(noPeriods = 10, weightsThreshold = 2.58, pastWeeksNotIncluded = 26,
                       pThresholdTrend = 1, thresholdMethod = "muan"),
  original_b3_w2_a01 = list(b = 3, w = 2, alpha = 0.01, weightsThreshold = 1),
  no_trend_no_reweight = list(trend = FALSE, reweight = FALSE, powertrans = "1/2"),
  original_none_limit = list(weightsThreshold = 1, powertrans = "none", limit54 = c(3, 2),
                             pastWeeksNotIncluded = 0),
  improved_b3_p4 = list(b = 3, w = 2, noPeriods = 4, pastWeeksNotIncluded = 10, alpha = 0.01,
                        thresholdMethod = "nbPlugin"),
  population_offset = list(populationOffset = TRUE, weightsThreshold = 1),
  improved_population = list(populationOffset = TRUE, noPeriods = 10, pastWeeksNotIncluded = 26,
                             pThresholdTrend = 1, thresholdMethod = "nbPlugin")
)

ctl_str <- function(v) if (is.null(v)) "" else paste(format(v), collapse = " ")

manifest <- list()
for (name in names(datasets)) {
  obs <- datasets[[name]]
  n <- nrow(obs)
  write_dataset_csv(obs, out_dir, name)
  rng <- (n - n_monitor[[name]] + 1):n
  rows <- list()
  for (case in names(cases)) {
    control <- modifyList(list(range = rng, glmWarnings = FALSE), cases[[case]])
    t0 <- proc.time()[["elapsed"]]
    pop <- matrix(100000 + 150 * seq_len(n), nrow = n, ncol = ncol(obs))
    res <- farringtonFlexible(sts(observed = obs, population = pop, freq = 52), control = control)
    elapsed <- proc.time()[["elapsed"]] - t0
    for (j in seq_len(ncol(obs))) {
      rows[[length(rows) + 1]] <- data.frame(
        case = case, series = j - 1, time = rng,
        expected = fmt(res@control$expected[, j]), upperbound = fmt(upperbound(res)[, j]),
        alarm = ifelse(is.na(alarms(res)[, j]), "", as.integer(alarms(res)[, j])),
        score = fmt(res@control$score[, j]), pvalue = fmt(res@control$pvalue[, j])
      )
    }
    cat(sprintf("%s %s: %.3f s for %d series x %d weeks\n", name, case, elapsed, ncol(obs), length(rng)))
    if (name == names(datasets)[1]) {
      ctl <- modifyList(eval(formals(farringtonFlexible)$control), cases[[case]], keep.null = TRUE)
      manifest[[length(manifest) + 1]] <- data.frame(
        case = case, b = ctl$b, w = ctl$w, reweight = as.integer(ctl$reweight),
        weightsThreshold = ctl$weightsThreshold, alpha = ctl$alpha, trend = as.integer(ctl$trend),
        pThresholdTrend = ctl$pThresholdTrend, limit54 = ctl_str(ctl$limit54),
        powertrans = ctl$powertrans, noPeriods = ctl$noPeriods,
        pastWeeksNotIncluded = ctl_str(ctl$pastWeeksNotIncluded),
        thresholdMethod = ctl$thresholdMethod, populationOffset = as.integer(ctl$populationOffset),
        r_version = paste(R.version$major, R.version$minor, sep = "."),
        surveillance_version = as.character(packageVersion("surveillance"))
      )
    }
  }
  con <- gzfile(file.path(out_dir, paste0(name, ".csv.gz")), "w")
  write.csv(do.call(rbind, rows), con, row.names = FALSE, quote = FALSE)
  close(con)
}
write.csv(do.call(rbind, manifest), file.path(out_dir, "manifest.csv"), row.names = FALSE, quote = FALSE)
cat("wrote", length(manifest), "cases x", length(datasets), "datasets to", out_dir, "\n")
