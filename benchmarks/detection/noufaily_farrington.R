# R surveillance::farringtonFlexible on the Noufaily et al. (2013) simulated series, for
# benchmarks/detection/noufaily.py (which writes the input and reads the output).
#
# Usage: Rscript noufaily_farrington.R counts.csv n_weeks preset alpha b w first last out.csv
#   counts.csv  one series per line, n_weeks comma-separated counts, no header
#   preset      "original" (Farrington et al. 1996) or "improved" (Noufaily et al. 2013), the
#               control presets of the farringtonFlexible help page and the monitoringCounts
#               vignette (Salmon, Schumacher and Hoehle 2016)
#   first last  1-based monitored weeks (R's control$range = first:last)
#   out.csv     one line per series: its alarms at first..last, 1/0, NA where R gives NA
# Prints progress to stderr and, last on stdout, "ELAPSED <seconds>" of the
# farringtonFlexible calls alone (reading and writing the files left out).
suppressPackageStartupMessages(library(surveillance))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 9) stop("usage: counts.csv n_weeks preset alpha b w first last out.csv")
n_weeks <- as.integer(args[2])
preset <- args[3]
alpha <- as.numeric(args[4])
b <- as.integer(args[5])
w <- as.integer(args[6])
first <- as.integer(args[7])
last <- as.integer(args[8])

counts <- matrix(scan(args[1], what = double(), sep = ",", quiet = TRUE),
                 ncol = n_weeks, byrow = TRUE)

control <- list(range = first:last, b = b, w = w, alpha = alpha, reweight = TRUE,
                trend = TRUE, limit54 = c(5, 4), powertrans = "2/3",
                verbose = FALSE, glmWarnings = FALSE, populationOffset = FALSE)
control <- switch(preset,
  original = c(control, list(noPeriods = 1, weightsThreshold = 1, pThresholdTrend = 0.05,
                             pastWeeksNotIncluded = NULL, thresholdMethod = "delta")),
  improved = c(control, list(noPeriods = 10, weightsThreshold = 2.58, pThresholdTrend = 1,
                             pastWeeksNotIncluded = 26, thresholdMethod = "nbPlugin")),
  stop("preset must be 'original' or 'improved'"))

n <- nrow(counts)
alarm <- matrix(NA_integer_, nrow = n, ncol = last - first + 1)
chunk <- 25
elapsed <- 0
for (start in seq(1, n, by = chunk)) {
  rows <- start:min(n, start + chunk - 1)
  # One sts with a column per series; epochAsDate = FALSE (the default here), so the
  # reference weeks are t - i * 52, as epiradar's farrington_flexible.
  s <- sts(observed = t(counts[rows, , drop = FALSE]), frequency = 52, start = c(2000, 1))
  elapsed <- elapsed + system.time(res <- farringtonFlexible(s, control = control))[["elapsed"]]
  alarm[rows, ] <- t(matrix(as.integer(res@alarm), ncol = length(rows)))
  message(sprintf("%s: %d/%d series, %.1f s", preset, max(rows), n, elapsed))
}
write.table(alarm, args[9], sep = ",", row.names = FALSE, col.names = FALSE, na = "NA")
cat(sprintf("ELAPSED %.3f\n", elapsed))
