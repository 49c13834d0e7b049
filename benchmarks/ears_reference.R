# Reference timing: R surveillance::earsC (C1, C2, C3) over every series of a count cube,
# judging the last N days. Usage: Rscript ears_reference.R cube.csv N ; prints seconds last.
suppressMessages(library(surveillance))
args <- commandArgs(trailingOnly = TRUE)
cube <- as.matrix(read.csv(args[1], header = FALSE))
n_days <- as.integer(args[2])
n_time <- ncol(cube)
range <- seq(n_time - n_days + 1, n_time)
elapsed <- system.time({
  for (method in c("C1", "C2", "C3")) {
    s <- sts(observed = t(cube), frequency = 365)
    res <- earsC(s, control = list(method = method, baseline = 7, alpha = 0.001, range = range))
  }
})[["elapsed"]]
cat(sprintf("%d series x %d days x 3 methods\n", nrow(cube), n_days))
cat(elapsed, "\n")
