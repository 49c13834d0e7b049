# R side of benchmarks/detection/bench_daily.py: time surveillance 1.20.3 earsC (C1, C2, C3),
# algo.cusum and algo.glrnb on the daily count series that the Python script simulated.
#
# Usage: Rscript daily_speed.R counts.csv mu0.csv n_days glr_subset cusum_subset M c_arl alpha outdir
#                              ears_subset
#   counts.csv   one row per series, one column per day (no header)
#   mu0.csv      one in-control mean per series (algo.glrnb control$mu0, one line each)
#   n_days       the last n_days days are judged (R's range)
#   *_subset     R times algo.glrnb / algo.cusum / earsC on the first <subset> series only
#                (0 = all);
#                the Python side scales the time linearly to every series
#   M, c_arl, alpha  algo.glrnb's control$M, control$c.ARL, control$alpha
# Prints "TIME <method> <n_series_timed> <seconds>" lines and writes alarms_<method>.csv
# (0/1, one row per series of the compared subset, one column per judged day) to outdir.
suppressMessages(library(surveillance))
args <- commandArgs(trailingOnly = TRUE)
cube <- as.matrix(read.csv(args[1], header = FALSE))
storage.mode(cube) <- "double"
mu0 <- scan(args[2], quiet = TRUE)
n_days <- as.integer(args[3])
glr_subset <- as.integer(args[4])
cusum_subset <- as.integer(args[5])
M <- as.integer(args[6])
c_arl <- as.numeric(args[7])
alpha <- as.numeric(args[8])
out_dir <- args[9]
ears_subset <- as.integer(args[10])
n_series <- nrow(cube)
n_time <- ncol(cube)
range <- seq(n_time - n_days + 1, n_time)
compare <- min(n_series, 500, if (ears_subset > 0) ears_subset else n_series)
write_alarms <- function(name, alarms) {
  write.table(alarms, file.path(out_dir, paste0("alarms_", name, ".csv")), sep = ",",
              row.names = FALSE, col.names = FALSE)
}
report <- function(name, n, secs) cat(sprintf("TIME %s %d %.6f\n", name, n, secs))

# EARS: one sts with the timed series as columns (earsC loops over the columns itself, in
# time linear in their number).
n_ears <- if (ears_subset > 0) min(ears_subset, n_series) else n_series
obs <- t(cube[seq_len(n_ears), , drop = FALSE])
for (method in c("C1", "C2", "C3")) {
  s <- sts(observed = obs, frequency = 365)
  secs <- system.time(
    res <- earsC(s, control = list(method = method, baseline = 7, range = range))
  )[["elapsed"]]
  report(paste0("ears_", method), n_ears, secs)
  write_alarms(paste0("ears_", method), t(tail(res@alarm, n_days)[, seq_len(compare), drop = FALSE]) * 1)
}

# CUSUM (Rossi et al. 1999, standard transform, m = NULL): algo.cusum is one series per call.
n_cusum <- if (cusum_subset > 0) min(cusum_subset, n_series) else n_series
cus <- matrix(0, nrow = n_cusum, ncol = n_days)
control <- list(range = range, k = 1.04, h = 2.26, m = NULL, trans = "standard")
secs <- system.time(
  for (j in seq_len(n_cusum)) {
    cus[j, ] <- algo.cusum(list(observed = cube[j, ]), control = control)$alarm
  }
)[["elapsed"]]
report("cusum", n_cusum, secs)
write_alarms("cusum", cus[seq_len(min(compare, n_cusum)), , drop = FALSE] * 1)

# Negative binomial GLR (Hoehle & Paul 2008), mu0 given per series, ret = "value".
n_glr <- if (glr_subset > 0) min(glr_subset, n_series) else n_series
glr <- matrix(0, nrow = n_glr, ncol = n_days)
secs <- system.time(
  for (j in seq_len(n_glr)) {
    control <- list(range = range, mu0 = rep(mu0[j], n_days), alpha = alpha, c.ARL = c_arl,
                    M = M, ret = "value")
    glr[j, ] <- algo.glrnb(list(observed = cube[j, ], freq = 365), control = control)$alarm
  }
)[["elapsed"]]
report("glr_nb", n_glr, secs)
write_alarms("glr_nb", glr[seq_len(min(compare, n_glr)), , drop = FALSE] * 1)
