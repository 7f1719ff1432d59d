# Reference values for coalmine's Mann-Whitney judge, computed by R's own wilcox.test.
#
# For each case this runs
#   wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE, conf.level = <level>)
# (x = experiment, y = control) and writes the inputs with R's confidence interval, point estimate
# and p-value to wilcox.json beside this script. tests/reference_r.rs checks the judge's port
# against every case.
#
# Every number is written as a JSON *string* holding "%.17g", which round-trips every double:
# JSON parsers need not parse 17-digit decimals exactly (serde_json without its float_roundtrip
# feature is one ulp off for about one in ten of them), and one ulp moves the root finder onto
# other steps. The test parses the strings with Rust's exact float parser.
#
# Regenerate with (from judges/mann-whitney):  Rscript tests/reference/wilcox.R
# Base R only (no jsonlite). The data are deterministic (set.seed); cases for which R warns or
# fails (e.g. two constant samples: "cannot compute confidence interval when all observations are
# tied") are skipped and reported.

set.seed(20240611)

cases <- list()
add <- function(name, x, y, conf.level = 0.98) {
  cases[[length(cases) + 1]] <<- list(name = name, x = x, y = y, conf.level = conf.level)
}

# Normal samples with and without shifts, small to large.
add("normal n=3 separated", rnorm(3, 3), rnorm(3))
add("normal n=5 shift 0.5sd", rnorm(5, 10.5), rnorm(5, 10))
add("normal n=8 vs 6 shift 1sd", rnorm(8, 1), rnorm(6))
add("normal n=10 no shift", rnorm(10), rnorm(10))
add("normal n=10 shift 1sd conf 0.95", rnorm(10, 1), rnorm(10), 0.95)
add("normal n=50 no shift conf 0.95", rnorm(50), rnorm(50), 0.95)
add("normal n=200 shift 0.2sd", rnorm(200, 100.2, 1), rnorm(200, 100, 1))
add("normal n=1000 shift 0.1sd", rnorm(1000, 0.1), rnorm(1000))
add("normal n=1000 vs 800 shift -0.15sd", rnorm(1000, -0.15), rnorm(800))
add("normal n=1 vs 6", rnorm(1, 0.5), rnorm(6))
add("normal n=4 vs 7 conf 0.95", rnorm(4, 2), rnorm(7), 0.95)
add("normal n=30 conf 0.90", rnorm(30, 0.3), rnorm(30), 0.90)
add("normal n=30 conf 0.99", rnorm(30, 0.3), rnorm(30), 0.99)
add("normal n=25 conf 0.5", rnorm(25, 0.1), rnorm(25), 0.5)

# Skewed data.
add("lognormal n=100 vs 120", rlnorm(100, 0.3, 1), rlnorm(120, 0, 1))
add("lognormal latencies n=1000", rlnorm(1000, log(250), 0.4), rlnorm(1000, log(240), 0.4))
add("exponential n=60 vs 40", rexp(60, 0.8), rexp(40, 1))
add("pareto-like heavy tail n=300", 1 / runif(300)^0.7, 1 / runif(300)^0.6)

# Heavy ties.
add("poisson counts n=100", rpois(100, 3.5), rpois(100, 3))
add("poisson counts n=1000", rpois(1000, 20), rpois(1000, 20.5))
add("rounded integers n=200 vs 150", round(rnorm(200, 51, 5)), round(rnorm(150, 50, 5)))
add("rounded to 0.1 n=30", round(rnorm(30, 1.05, 0.2), 1), round(rnorm(30, 1, 0.2), 1))
add("rounded n=1000 few levels", round(rnorm(1000, 0.2)), round(rnorm(1000)))
add("binary n=200", rbinom(200, 1, 0.3), rbinom(200, 1, 0.2))
add("mostly zeros (kayenta#426)", c(rep(0, 95), rpois(5, 2) + 1), c(rep(0, 98), 1, 3))
add("zero control, few experiment errors", c(rep(0, 57), 1, 2, 1), rep(0, 60))
add("constant experiment, varied control", rep(5, 10), rnorm(10, 5))
add("two levels each", rep(c(1, 2), 20), rep(c(2, 3), 15))

# Signs and scales.
add("negative values n=40", rnorm(40, -95, 10), rnorm(40, -100, 10))
add("mixed signs n=70 vs 50", rnorm(70, -0.2, 3), rnorm(50, 0.4, 3))
add("large scale 1e9", rnorm(80, 1.02e9, 1e7), rnorm(80, 1e9, 1e7))
add("tiny scale 1e-6", rnorm(80, 1.1e-6, 2e-7), rnorm(80, 1e-6, 2e-7))

# Near-identical samples.
base <- rnorm(20, 50, 2)
add("identical but one value +1e-9", replace(base, 1, base[1] + 1e-9), base)
base <- rnorm(500, 7, 1)
add("identical plus 1e-6 noise n=500", base + rnorm(500, 0, 1e-6), base)
base <- round(runif(100, 0, 10))
add("same values, one moved", replace(base, 1, base[1] + 1), base)

fmt <- function(v) paste0("\"", sprintf("%.17g", v), "\"")
json_array <- function(v) paste0("[", paste(fmt(v), collapse = ","), "]")
json_string <- function(s) paste0("\"", gsub("\"", "\\\\\"", s), "\"")

entries <- character(0)
for (case in cases) {
  result <- tryCatch(
    wilcox.test(case$x, case$y, conf.int = TRUE, exact = FALSE, correct = TRUE,
                conf.level = case$conf.level),
    warning = function(w) w, error = function(e) e)
  if (inherits(result, "condition")) {
    message("skipped '", case$name, "': ", conditionMessage(result))
    next
  }
  entries <- c(entries, paste0(
    "    {",
    "\"name\": ", json_string(case$name), ", ",
    "\"confLevel\": ", fmt(case$conf.level), ", ",
    "\"confInt\": ", json_array(as.numeric(result$conf.int)), ", ",
    "\"estimate\": ", fmt(unname(result$estimate)), ", ",
    "\"pValue\": ", fmt(result$p.value), ",\n",
    "     \"x\": ", json_array(case$x), ",\n",
    "     \"y\": ", json_array(case$y), "}"))
}

# The two-constant-samples case R cannot do (it warns and returns NaN bounds): shown, not written.
message("two constant samples: ", tryCatch(
  wilcox.test(rep(2, 5), rep(1, 5), conf.int = TRUE, exact = FALSE)$estimate,
  warning = function(w) conditionMessage(w)))

output <- file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))),
                    "wilcox.json")
writeLines(c(
  "{",
  paste0("  \"generator\": ", json_string(paste(
    "tests/reference/wilcox.R with", R.version.string)), ","),
  "  \"cases\": [",
  paste(entries, collapse = ",\n"),
  "  ]",
  "}"), output)
message("wrote ", length(entries), " cases to ", output)
