# Golden fixtures for epiradar.detect.temporal.nb_glm: MASS::glm.nb fitted on the window that
# nb_glm fits for a monitored time index, exactly as nb_glm specifies its model, on a seeded
# synthetic daily series pair and on surveillance's campyDE$case (weekly).
#
# Re-run from the repository root:  Rscript tests/reference/nb_glm_golden.R
# Writes tests/fixtures/nb_glm/:
#   data_<dataset>.csv   observed counts, one row per time index (1-based `time`), one column
#                        per series (NA = missing)
#   <dataset>.csv.gz     one row per (case, series, monitored index): `case`, `series` (0-based
#                        column), `index` (0-based time index monitored), `n_obs` (non-missing
#                        counts in the window), `expected` (the fitted mean at `index`),
#                        `theta` (glm.nb's theta), `upperbound` (qnbinom(1 - alpha, theta, mu)),
#                        `pvalue` (P(Y >= y) = pnbinom(y - 1, theta, mu, lower = FALSE)),
#                        `expected_default`, `theta_default` (the same fit with glm.nb's default
#                        control, which stops at a looser tolerance: the final fit with
#                        reweighting on)
#   manifest.csv         case, dataset, baseline (empty = all history), guard, freq (empty =
#                        no within-week factor), period, harmonics, trend, reweight,
#                        weights_threshold, alpha, R and MASS versions
#
# The model (see nb_glm.py): for monitored index t the window is the 0-based indices
# max(0, t - guard - baseline) .. t - guard - 1 (every index from 0 with no baseline), missing
# counts dropped, and
#   glm.nb(y ~ tt + cos1 + sin1 [+ cos2 + sin2] + factor(t %% freq))
# with tt = t / period, cos_s = cos(2 pi s t / period), sin_s likewise. With reweighting, the
# first fit's Anscombe residuals r = 1.5 (y^(2/3) mu^(-1/6) - mu^(1/2)) / sqrt((1 + mu / theta)
# (1 - h)) (h: hatvalues) give weights r^-2 where r > weights_threshold, else 1, rescaled to
# sum to the number of counts, and glm.nb is refitted with those weights. Fits use
# glm.control(epsilon = 1e-12, maxit = 100) so that they sit at the maximum likelihood
# (glm.nb may warn "alternation limit reached" when theta's own Newton tolerance stops it
# short of 1e-12; the fitted means are then still converged far below 1e-6).

suppressPackageStartupMessages({
  library(MASS)
  library(surveillance)
})

out_dir <- file.path("tests", "fixtures", "nb_glm")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)

# --- data --------------------------------------------------------------------------------
set.seed(20261126)
n_days <- 3 * 365
t <- 0:(n_days - 1)
dow <- c(1.3, 1.2, 1.1, 1.0, 1.0, 0.6, 0.5)[t %% 7 + 1]
season <- exp(0.35 * cos(2 * pi * t / 365.25) + 0.1 * sin(2 * pi * t / 365.25))
mu1 <- 25 * dow * season * exp(0.15 * t / 365.25)
s1 <- rnbinom(n_days, size = 8, mu = mu1)
s1[541:547] <- s1[541:547] + c(10, 25, 40, 50, 40, 25, 10)   # indices 540..546, in a baseline
s1[996:1002] <- s1[996:1002] + c(8, 20, 35, 45, 35, 20, 8)   # indices 995..1001, monitored
mu2 <- 4 * dow * season
s2 <- as.numeric(rnbinom(n_days, size = 3, mu = mu2))
s2[c(100, 101, 350, 640:660, 900)] <- NA                     # missing counts
daily <- cbind(s1 = as.numeric(s1), s2 = s2)

data(campyDE)
campy <- cbind(case = as.numeric(campyDE$case))

datasets <- list(synthetic_daily = daily, campy_de = campy)
for (name in names(datasets)) {
  m <- datasets[[name]]
  write.csv(data.frame(time = seq_len(nrow(m)), m), file.path(out_dir, paste0("data_", name, ".csv")),
            row.names = FALSE, na = "")
}

# --- cases -------------------------------------------------------------------------------
daily_days <- c(371, 400, 555, 700, 860, 998, 1000, 1094)
campy_days <- c(160, 230, 300, 380, 450, 521)
cases <- list(
  daily_plain = list(data = "synthetic_daily", baseline = 364, guard = 7, freq = 7, period = 365.25,
                     harmonics = 1, trend = TRUE, reweight = FALSE, days = daily_days),
  daily_reweight = list(data = "synthetic_daily", baseline = 364, guard = 7, freq = 7, period = 365.25,
                        harmonics = 1, trend = TRUE, reweight = TRUE, days = daily_days),
  daily_all_h2 = list(data = "synthetic_daily", baseline = NA, guard = 0, freq = 7, period = 365.25,
                      harmonics = 2, trend = FALSE, reweight = FALSE, days = daily_days),
  daily_nodow = list(data = "synthetic_daily", baseline = 200, guard = 3, freq = NA, period = 365.25,
                     harmonics = 1, trend = TRUE, reweight = TRUE, days = daily_days),
  campy_plain = list(data = "campy_de", baseline = 156, guard = 2, freq = NA, period = 52.18,
                     harmonics = 2, trend = TRUE, reweight = FALSE, days = campy_days),
  campy_reweight = list(data = "campy_de", baseline = 156, guard = 2, freq = NA, period = 52.18,
                        harmonics = 2, trend = TRUE, reweight = TRUE, days = campy_days),
  campy_all = list(data = "campy_de", baseline = NA, guard = 0, freq = NA, period = 52.18,
                   harmonics = 1, trend = TRUE, reweight = TRUE, days = campy_days)
)
weights_threshold <- 2.58
alpha <- 0.01
tight <- glm.control(epsilon = 1e-12, maxit = 100)

frame <- function(idx, case) {
  d <- data.frame(t = idx, tt = idx / case$period)
  if (case$harmonics > 0) for (s in seq_len(case$harmonics)) {
    d[[paste0("cos", s)]] <- cos(2 * pi * s * idx / case$period)
    d[[paste0("sin", s)]] <- sin(2 * pi * s * idx / case$period)
  }
  if (!is.na(case$freq)) d$dow <- factor(idx %% case$freq, levels = 0:(case$freq - 1))
  d
}

formula_of <- function(case) {
  terms <- c("1")
  if (case$trend) terms <- c(terms, "tt")
  if (case$harmonics > 0) for (s in seq_len(case$harmonics)) terms <- c(terms, paste0("cos", s), paste0("sin", s))
  if (!is.na(case$freq)) terms <- c(terms, "dow")
  as.formula(paste("y ~", paste(terms, collapse = " + ")))
}

fit_nb <- function(f, train, w, control) {
  train$w <- w
  suppressWarnings(glm.nb(f, data = train, weights = w, control = control))
}

rows <- list()
for (case_name in names(cases)) {
  case <- cases[[case_name]]
  m <- datasets[[case$data]]
  f <- formula_of(case)
  for (j in seq_len(ncol(m))) {
    for (day in case$days) {
      hi <- day - case$guard                       # exclusive
      lo <- if (is.na(case$baseline)) 0 else max(0, hi - case$baseline)
      idx <- lo:(hi - 1)
      train <- frame(idx, case)
      train$y <- m[idx + 1, j]
      train <- train[!is.na(train$y), ]
      w <- rep(1, nrow(train))
      fit <- fit_nb(f, train, w, tight)
      fit_default <- fit_nb(f, train, w, glm.control())
      if (case$reweight) {
        mu <- fitted(fit)
        h <- hatvalues(fit)
        r <- 1.5 * (train$y^(2 / 3) * mu^(-1 / 6) - sqrt(mu)) / sqrt((1 + mu / fit$theta) * (1 - h))
        w <- ifelse(r > weights_threshold, r^-2, 1)
        w <- w * length(w) / sum(w)
        fit <- fit_nb(f, train, w, tight)
        fit_default <- fit_nb(f, train, w, glm.control())
      }
      new <- frame(day, case)
      mu_t <- predict(fit, newdata = new, type = "response")
      mu_d <- predict(fit_default, newdata = new, type = "response")
      y_t <- m[day + 1, j]
      rows[[length(rows) + 1]] <- data.frame(
        case = case_name, series = j - 1, index = day, n_obs = nrow(train),
        expected = sprintf("%.17g", mu_t), theta = sprintf("%.17g", fit$theta),
        upperbound = qnbinom(1 - alpha, size = fit$theta, mu = mu_t),
        pvalue = sprintf("%.17g", pnbinom(y_t - 1, size = fit$theta, mu = mu_t, lower.tail = FALSE)),
        expected_default = sprintf("%.17g", mu_d), theta_default = sprintf("%.17g", fit_default$theta)
      )
    }
  }
}
res <- do.call(rbind, rows)
for (name in names(datasets)) {
  sub <- res[res$case %in% names(cases)[sapply(cases, `[[`, "data") == name], ]
  con <- gzfile(file.path(out_dir, paste0(name, ".csv.gz")), "w")
  write.csv(sub, con, row.names = FALSE, quote = FALSE, na = "")
  close(con)
}

manifest <- do.call(rbind, lapply(names(cases), function(n) {
  c <- cases[[n]]
  data.frame(case = n, dataset = c$data, baseline = ifelse(is.na(c$baseline), "", c$baseline),
             guard = c$guard, freq = ifelse(is.na(c$freq), "", c$freq), period = c$period,
             harmonics = c$harmonics, trend = as.integer(c$trend), reweight = as.integer(c$reweight),
             weights_threshold = weights_threshold, alpha = alpha,
             R = paste(R.version$major, R.version$minor, sep = "."),
             MASS = as.character(packageVersion("MASS")))
}))
write.csv(manifest, file.path(out_dir, "manifest.csv"), row.names = FALSE)
cat("wrote", nrow(res), "rows to", out_dir, "\n")
