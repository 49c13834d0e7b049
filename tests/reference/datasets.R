# The real data sets shipped with R surveillance (1.20.3) that the golden scripts run on.
#
# Use from the repository root:  source("tests/reference/datasets.R")
#
# golden_datasets() returns a named list, one entry per data set (names as used in the fixture
# file names), each a list of
#   observed  a double count matrix: rows = time (weeks), columns = series, with column names
#   freq      time points per year (52 for all of them: they are all weekly)
#   source    where it comes from, in words
#
#   salmonella_agona  data(salmonella.agona): disProg, 312 weeks 1990-1995, 1 series
#   ha_sts            data(ha.sts): sts, 290 weeks 2001-2006, Hepatitis A in the 12 districts
#                     of Berlin (all 12 columns)
#   shadar            data(shadar): disProg, 295 weeks 2001-2006, 1 series (Salmonella
#                     Hadar, Germany)
#   sts_newport       data(stsNewport): sts with epochAsDate (weekly dates 2001-01-01 ..
#                     2015-10-19, freq 52), 773 weeks, 1 series (Salmonella Newport, Germany)
#   measles_de        data(measlesDE): sts, 156 weeks 2005-2007, measles in the 16 German
#                     states (all 16 columns; Saarland is all zeros)
#   campy_de          data(campyDE): data.frame, 522 weeks 2002-2011, column `case`
#                     (Campylobacteriosis, Germany), 1 series
#
# The golden scripts pass the matrices to R as plain count series (sts(observed, freq = 52),
# list(observed = x, freq = 52) or ts(x, frequency = 52)): the dates of stsNewport are not used.

suppressPackageStartupMessages(library(surveillance))

count_matrix <- function(x, names) {
  x <- as.matrix(x)
  storage.mode(x) <- "double"
  dimnames(x) <- list(NULL, names)
  x
}

golden_datasets <- function() {
  env <- environment()
  data("salmonella.agona", "ha.sts", "shadar", "stsNewport", "measlesDE", "campyDE",
       package = "surveillance", envir = env)
  out <- list(
    salmonella_agona = list(
      observed = count_matrix(salmonella.agona$observed, "salmonella.agona"),
      freq = salmonella.agona$freq, source = "data(salmonella.agona)"
    ),
    ha_sts = list(
      observed = count_matrix(observed(ha.sts), colnames(observed(ha.sts))),
      freq = ha.sts@freq, source = "data(ha.sts)"
    ),
    shadar = list(
      observed = count_matrix(shadar$observed, "shadar"),
      freq = shadar$freq, source = "data(shadar)"
    ),
    sts_newport = list(
      observed = count_matrix(observed(stsNewport), "stsNewport"),
      freq = stsNewport@freq, source = "data(stsNewport)"
    ),
    measles_de = list(
      observed = count_matrix(observed(measlesDE), colnames(observed(measlesDE))),
      freq = measlesDE@freq, source = "data(measlesDE)"
    ),
    campy_de = list(
      observed = count_matrix(campyDE$case, "campyDE"),
      freq = 52, source = "data(campyDE)$case"
    )
  )
  for (d in out) stopifnot(d$freq == 52, !anyNA(d$observed), ncol(d$observed) >= 1)
  stopifnot(ncol(out$ha_sts$observed) == 12, ncol(out$measles_de$observed) == 16)
  out
}

# Writes data_<name>.csv: a 1-based `time` column and one column s0, s1, ... per series
# (empty = NA).
write_dataset_csv <- function(obs, out_dir, name) {
  write.csv(
    data.frame(time = seq_len(nrow(obs)),
               setNames(as.data.frame(unname(obs)), paste0("s", seq_len(ncol(obs)) - 1))),
    file.path(out_dir, paste0("data_", name, ".csv")),
    row.names = FALSE, na = ""
  )
}

# A number as the fixtures write it: `digits` significant digits, NA as an empty field.
fmt <- function(x, digits = 15) {
  ifelse(is.na(x), "", trimws(formatC(x, digits = digits, format = "g")))
}
