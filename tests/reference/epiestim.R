# Golden fixtures for epiradar.trace.rt: EpiEstim 2.2-4 (Debian r-cran-epiestim) estimate_R,
# wallinga_teunis and discr_si on the package's data sets Flu2009, SARS2003, Measles1861 and
# Smallpox1972.
#
# Re-run from the repository root:  Rscript tests/reference/epiestim.R
# Writes tests/fixtures/epiestim/:
#   data_<dataset>.csv      t (1-based day), I (cases), and for the imported-cases cases local,
#                           imported (I = local + imported); Flu2009 also its dates
#   si_<dataset>.csv        k (0-based day), p: the data set's si_distr
#   discr_si.csv            mean, sd, k, p = discr_si(k, mean, sd)
#   estimate_r.csv.gz       one row per (dataset, case, window): t_start, t_end, mean, std,
#                           q025, q05, q25, median, q75, q95, q975 (estimate_R's R table)
#   wallinga_teunis.csv.gz  one row per (dataset, case, window): t_start, t_end, mean, std,
#                           q025, q975, n_sim (wallinga_teunis' R table)
# The cases (the Python tests rebuild each from its name, see tests/test_trace_rt.py):
#   parametric        method "parametric_si", the data set's usual SI mean / sd (those
#                     behind its si_distr: Flu2009 2.6 / 1.5, SARS2003 8.4 / 3.8,
#                     Measles1861 14.9 / 3.9, Smallpox1972 22.4 / 6.1), weekly sliding windows
#   non_parametric    method "non_parametric_si" with the data set's si_distr, weekly windows
#   window14          non-parametric, 14-day sliding windows t_start = 2 .. T - 13
#   custom            non-parametric, windows of varied length (CUSTOM below)
#   help              non-parametric, the windows of the data set's help-page example
#   prior             parametric, mean_prior = 2, std_prior = 1
#   imported          parametric on data.frame(local, imported): on days t %% 3 == 0,
#                     floor(I / 3) of the cases are imported (and day 1 all, as EpiEstim)
# wallinga_teunis (set.seed(WT_SEED) before each call, n_sim = N_SIM; its std and quantiles
# come from sampled trees, so they hold only statistically):
#   parametric, non_parametric  as above, weekly windows
#   leading_zeros     non-parametric, three days without cases put before the data

suppressPackageStartupMessages(library(EpiEstim))

out_dir <- file.path("tests", "fixtures", "epiestim")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)

N_SIM <- 2000
WT_SEED <- 20040915
SI <- list(
  Flu2009 = c(2.6, 1.5), SARS2003 = c(8.4, 3.8),
  Measles1861 = c(14.9, 3.9), Smallpox1972 = c(22.4, 6.1)
)
HELP <- list(
  Flu2009 = list(2:26, 8:32), SARS2003 = list(14:101, 20:107),
  Measles1861 = list(17:42, 23:48), Smallpox1972 = list(27:51, 33:57)
)
CUSTOM <- function(T) list(c(2, 5, 10, 10, 20, T - 9), c(4, 12, 10, 25, T, T))

data("Flu2009", "SARS2003", "Measles1861", "Smallpox1972", package = "EpiEstim",
     envir = environment())
sets <- list(Flu2009 = Flu2009, SARS2003 = SARS2003, Measles1861 = Measles1861,
             Smallpox1972 = Smallpox1972)

fmt <- function(v) ifelse(is.na(v), "NA", trimws(formatC(v, digits = 17, format = "g")))
fmt_frame <- function(d, skip) {
  num <- setdiff(names(d), skip)
  d[num] <- lapply(d[num], fmt)
  d
}
quiet <- function(expr) suppressWarnings(suppressMessages(expr))

r_table <- function(res) {
  R <- res$R
  names(R) <- c("t_start", "t_end", "mean", "std", "q025", "q05", "q25", "median", "q75",
                "q95", "q975")
  R
}
run_case <- function(incid, method, si, t_start, t_end, prior = c(5, 5)) {
  config <- list(t_start = t_start, t_end = t_end, mean_prior = prior[1], std_prior = prior[2])
  if (method == "parametric_si") {
    config$mean_si <- si[1]
    config$std_si <- si[2]
  } else {
    config$si_distr <- si
  }
  quiet(estimate_R(incid, method = method, config = make_config(config)))
}

results <- list()
wt <- list()
for (name in names(sets)) {
  d <- sets[[name]]
  inc <- d$incidence
  I <- if (is.data.frame(inc)) inc$I else as.numeric(inc)
  T <- length(I)
  imported <- ifelse(seq_len(T) %% 3 == 0, floor(I / 3), 0)
  imported[1] <- I[1]
  local <- I - imported
  data <- data.frame(t = seq_len(T), I = I, local = local, imported = imported)
  if (is.data.frame(inc) && "dates" %in% names(inc)) data$dates <- format(inc$dates)
  write.csv(data, file.path(out_dir, paste0("data_", name, ".csv")), row.names = FALSE,
            quote = FALSE)
  write.csv(data.frame(k = seq_along(d$si_distr) - 1, p = fmt(d$si_distr)),
            file.path(out_dir, paste0("si_", name, ".csv")), row.names = FALSE, quote = FALSE)

  weekly <- list(2:(T - 6), 8:T)
  cases <- list(
    parametric = run_case(I, "parametric_si", SI[[name]], weekly[[1]], weekly[[2]]),
    non_parametric = run_case(I, "non_parametric_si", d$si_distr, weekly[[1]], weekly[[2]]),
    window14 = run_case(I, "non_parametric_si", d$si_distr, 2:(T - 13), 15:T),
    custom = run_case(I, "non_parametric_si", d$si_distr, CUSTOM(T)[[1]], CUSTOM(T)[[2]]),
    help = run_case(I, "non_parametric_si", d$si_distr, HELP[[name]][[1]], HELP[[name]][[2]]),
    prior = run_case(I, "parametric_si", SI[[name]], weekly[[1]], weekly[[2]], c(2, 1)),
    imported = run_case(data.frame(local = local, imported = imported), "parametric_si",
                        SI[[name]], weekly[[1]], weekly[[2]])
  )
  for (case in names(cases)) {
    results[[length(results) + 1]] <- cbind(dataset = name, case = case, r_table(cases[[case]]))
  }

  wt_case <- function(incid, config) {
    set.seed(WT_SEED)
    config$n_sim <- N_SIM
    config$t_start <- 2:(length(incid) - 6)
    config$t_end <- 8:length(incid)
    R <- quiet(wallinga_teunis(incid, method = config$method, config = config))$R
    names(R) <- c("t_start", "t_end", "mean", "std", "q025", "q975")
    R
  }
  wcases <- list(
    parametric = wt_case(I, list(method = "parametric_si", mean_si = SI[[name]][1],
                                 std_si = SI[[name]][2])),
    non_parametric = wt_case(I, list(method = "non_parametric_si", si_distr = d$si_distr)),
    leading_zeros = wt_case(c(0, 0, 0, I), list(method = "non_parametric_si",
                                                si_distr = d$si_distr))
  )
  for (case in names(wcases)) {
    wt[[length(wt) + 1]] <- cbind(dataset = name, case = case, wcases[[case]], n_sim = N_SIM)
  }
  cat(name, "done\n")
}

est <- fmt_frame(do.call(rbind, results), c("dataset", "case", "t_start", "t_end"))
con <- gzfile(file.path(out_dir, "estimate_r.csv.gz"), "w")
write.csv(est, con, row.names = FALSE, quote = FALSE)
close(con)
wtt <- fmt_frame(do.call(rbind, wt), c("dataset", "case", "t_start", "t_end", "n_sim"))
con <- gzfile(file.path(out_dir, "wallinga_teunis.csv.gz"), "w")
write.csv(wtt, con, row.names = FALSE, quote = FALSE)
close(con)

grid <- expand.grid(k = 0:60, sd = c(0.5, 1.5, 3.8, 3.9, 6.1, 10), mean = c(1.5, 2.6, 8.4,
                    14.9, 22.4))
grid$p <- fmt(mapply(function(k, m, s) discr_si(k, m, s), grid$k, grid$mean, grid$sd))
write.csv(grid[c("mean", "sd", "k", "p")], file.path(out_dir, "discr_si.csv"), row.names = FALSE,
          quote = FALSE)
cat("wrote", nrow(est), "estimate_R rows,", nrow(wtt), "wallinga_teunis rows to", out_dir, "\n")
