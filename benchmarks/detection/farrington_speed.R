# Reference timing: R surveillance::farringtonFlexible on every series of a weekly count matrix,
# monitoring the last N weeks, with the "improved" (Noufaily) or "original" (Farrington) preset.
#
# Usage: Rscript farrington_speed.R counts.csv improved|original N out.csv
#   counts.csv  one row per week (1-based `time` column), one column per series
#   out.csv     one row per (series, monitored week): series (0-based), time (1-based),
#               alarm (1/0, NA empty), upperbound, expected (control$expected), score, pvalue
# Prints the seconds farringtonFlexible took (elapsed) on the last line.
suppressPackageStartupMessages(library(surveillance))
args <- commandArgs(trailingOnly = TRUE)
frame <- read.csv(args[1])
obs <- as.matrix(frame[, setdiff(names(frame), "time"), drop = FALSE])
storage.mode(obs) <- "double"
preset <- args[2]
n_monitor <- as.integer(args[3])
n <- nrow(obs)
rng <- (n - n_monitor + 1):n
control <- switch(preset,
  improved = list(b = 5, w = 3, noPeriods = 10, pastWeeksNotIncluded = 26,
                  weightsThreshold = 2.58, pThresholdTrend = 1, thresholdMethod = "nbPlugin"),
  original = list(b = 5, w = 3, noPeriods = 1, weightsThreshold = 1, pThresholdTrend = 0.05,
                  thresholdMethod = "delta"),
  stop("preset must be improved or original")
)
control <- c(control, list(range = rng, glmWarnings = FALSE))
s <- sts(observed = obs, frequency = 52)
elapsed <- system.time(res <- farringtonFlexible(s, control = control))[["elapsed"]]
fmt <- function(x) ifelse(is.na(x), "", trimws(formatC(x, digits = 17, format = "g")))
alarm <- alarms(res)
out <- data.frame(
  series = rep(seq_len(ncol(obs)) - 1, each = length(rng)),
  time = rep(rng, times = ncol(obs)),
  alarm = ifelse(is.na(as.vector(alarm)), "", as.integer(as.vector(alarm))),
  upperbound = fmt(as.vector(upperbound(res))),
  expected = fmt(as.vector(res@control$expected)),
  score = fmt(as.vector(res@control$score)),
  pvalue = fmt(as.vector(res@control$pvalue))
)
write.csv(out, args[4], row.names = FALSE, quote = FALSE)
cat(sprintf("%s: %d series x %d weeks\n", preset, ncol(obs), length(rng)))
cat(elapsed, "\n")
