# Golden fixtures for epiradar.trace.fisher: stats::fisher.test on many 2x2 tables and
# stats::p.adjust(method = "BH").
#
# Re-run from the repository root:  Rscript tests/reference/fisher_golden.R
# Writes tests/fixtures/fisher/tables.csv, one row per table [[a, b], [c, d]]
# (rows cases / controls, columns exposed / unexposed):
#   p_greater, p_two_sided          fisher.test(alternative = "greater" / "two.sided")$p.value
#   estimate, ci_low, ci_high       fisher.test()$estimate, $conf.int (95%, two-sided)
#   estimate_tight, ci_low_tight, ci_high_tight
#                                   the same definitions solved to 1e-12 on log(odds ratio):
#                                   fisher.test solves them with uniroot's default tolerance
#                                   (.Machine$double.eps^0.25, about 1.2e-4)
#   q_bh                            p.adjust(p_greater, method = "BH") over all rows

out_dir <- file.path("tests", "fixtures", "fisher")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)

set.seed(19350101)
tables <- list(
  c(0, 5, 0, 50), c(5, 0, 50, 0), c(0, 0, 3, 40), c(3, 40, 0, 0), c(5, 5, 5, 5),
  c(10, 0, 0, 10), c(0, 10, 10, 0), c(1, 0, 0, 1), c(7, 3, 12, 88), c(1, 19, 1, 199),
  c(20, 0, 3, 200), c(0, 20, 30, 170), c(12, 8, 40, 160), c(3, 1, 1, 3), c(2, 2, 2, 2),
  c(150, 50, 300, 2700), c(400, 600, 380, 620), c(1, 1, 1000, 1000), c(9, 1, 10, 190)
)
for (i in 1:260) {
  cases <- sample(c(2:30, 50, 120, 400), 1)
  controls <- sample(c(5:60, 100, 300, 1200), 1)
  p_case <- runif(1, 0, 1)
  p_ctrl <- runif(1, 0, min(1, p_case * runif(1, 0.2, 1.5)))
  a <- rbinom(1, cases, p_case)
  c <- rbinom(1, controls, p_ctrl)
  tables[[length(tables) + 1]] <- c(a, cases - a, c, controls - c)
}
tables <- c(tables, tables[1:15])  # repeated tables: tied p-values for BH

tight <- function(a, b, c, d, conf.level = 0.95) {
  m <- a + c; n <- b + d; k <- a + b; x <- a
  lo <- max(0, k - n); hi <- min(k, m)
  support <- lo:hi
  logdc <- dhyper(support, m, n, k, log = TRUE)
  dn <- function(theta) { e <- logdc + theta * support; w <- exp(e - max(e)); w / sum(w) }
  root <- function(f) {
    exp(uniroot(f, c(-1, 1), extendInt = "upX", tol = 1e-12, maxiter = 10000)$root)
  }
  alpha <- (1 - conf.level) / 2
  est <- if (x == lo) 0 else if (x == hi) Inf else root(function(t) sum(support * dn(t)) - x)
  low <- if (x == lo) 0 else root(function(t) sum(dn(t)[support >= x]) - alpha)
  high <- if (x == hi) Inf else root(function(t) alpha - sum(dn(t)[support <= x]))
  c(est, low, high)
}

fmt <- function(v) trimws(formatC(v, digits = 17, format = "g"))
rows <- lapply(tables, function(t) {
  tab <- matrix(t, 2, byrow = TRUE)
  g <- fisher.test(tab, alternative = "greater")
  two <- fisher.test(tab)
  tt <- tight(t[1], t[2], t[3], t[4])
  data.frame(
    a = t[1], b = t[2], c = t[3], d = t[4],
    p_greater = g$p.value, p_two_sided = two$p.value,
    estimate = unname(two$estimate), ci_low = two$conf.int[1], ci_high = two$conf.int[2],
    estimate_tight = tt[1], ci_low_tight = tt[2], ci_high_tight = tt[3]
  )
})
out <- do.call(rbind, rows)
out$q_bh <- p.adjust(out$p_greater, method = "BH")
num <- setdiff(names(out), c("a", "b", "c", "d"))
out[num] <- lapply(out[num], fmt)
write.csv(out, file.path(out_dir, "tables.csv"), row.names = FALSE, quote = FALSE)
cat("wrote", nrow(out), "tables to", out_dir, "\n")
