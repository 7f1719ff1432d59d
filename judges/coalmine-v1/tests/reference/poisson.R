# Reference values for coalmine-v1's exact rate test, computed by R's own poisson.test.
#
# For each case (x = experiment events over exposure s, y = control events over exposure t) this runs
#   poisson.test(c(x, y), c(s, t), alternative = "two.sided", conf.level = <level>)  -> estimate, conf.int
#   poisson.test(c(x, y), c(s, t), alternative = "greater")$p.value                 -> pGreater
#   poisson.test(c(x, y), c(s, t), alternative = "less")$p.value                    -> pLess
# and writes the inputs and results to poisson.json beside this script; tests/reference_r.rs checks the judge
# against every case. Numbers are JSON strings of "%.17g" (exact round trip; Inf and NaN as R prints them).
#
# Regenerate with (from judges/coalmine-v1):  Rscript tests/reference/poisson.R
# Base R only. The cases are deterministic (set.seed for the random ones).

set.seed(20261122)

cases <- list()
add <- function(name, x, s, y, t, conf.level = 0.98) {
  cases[[length(cases) + 1]] <<- list(name = name, x = x, s = s, y = y, t = t, conf.level = conf.level)
}

# The issue's scenarios: a zero baseline, sparse and ordinary counts over an hour of one-minute steps.
add("zero baseline, 18 canary errors", 18, 60, 0, 60)
add("zero baseline, 1 canary error", 1, 60, 0, 60)
add("zero baseline, 7 canary errors", 7, 60, 0, 60)
add("zero baseline, 6 canary errors", 6, 60, 0, 60)
add("canary zero, 5 baseline errors", 0, 60, 5, 60)
add("sparse 3 vs 18", 18, 60, 3, 60)
add("sparse 12 vs 36", 36, 60, 12, 60)
add("ordinary 300 vs 300", 300, 60, 300, 60)
add("ordinary 360 vs 300", 360, 60, 300, 60)
add("ordinary 250 vs 300", 250, 60, 300, 60)
add("large 50123 vs 49876", 50123, 60, 49876, 60)
add("large 1e6 vs 1.01e6", 1000000, 60, 1010000, 60)
add("one event each", 1, 60, 1, 60)
# Unequal exposures (NaNs removed on one side, different step lengths).
add("exposures 30 vs 60", 10, 30, 10, 60)
add("exposures 57 vs 60", 9, 57, 2, 60)
add("exposures 60 vs 45 zero baseline", 4, 60, 0, 45)
add("exposures 1 vs 1000", 3, 1, 200, 1000)
add("fractional exposure", 25, 58.5, 11, 60)
# Other confidence levels.
add("conf 0.95", 14, 60, 5, 60, 0.95)
add("conf 0.99", 14, 60, 5, 60, 0.99)
add("conf 0.5", 14, 60, 5, 60, 0.5)
add("conf 0.999 zero baseline", 12, 60, 0, 60, 0.999)
# Random Poisson counts at many rates.
for (i in 1:30) {
  rate <- 10^runif(1, -2, 2)
  ratio <- sample(c(1, 1, 1.5, 3), 1)
  s <- sample(c(30, 60, 120), 1)
  t <- sample(c(30, 60, 120), 1)
  x <- rpois(1, rate * ratio * s)
  y <- rpois(1, rate * t)
  if (x + y > 0) add(sprintf("random %d: rate %.4g ratio %g", i, rate, ratio), x, s, y, t)
}

num <- function(v) sprintf("\"%.17g\"", v)
json <- character()
for (case in cases) {
  two <- poisson.test(c(case$x, case$y), c(case$s, case$t), conf.level = case$conf.level)
  greater <- poisson.test(c(case$x, case$y), c(case$s, case$t), alternative = "greater")
  less <- poisson.test(c(case$x, case$y), c(case$s, case$t), alternative = "less")
  json <- c(json, sprintf(
    paste0("  {\"name\": \"%s\", \"x\": %s, \"s\": %s, \"y\": %s, \"t\": %s, \"confLevel\": %s,",
           " \"estimate\": %s, \"confInt\": [%s, %s], \"pGreater\": %s, \"pLess\": %s}"),
    case$name, num(case$x), num(case$s), num(case$y), num(case$t), num(case$conf.level),
    num(unname(two$estimate)), num(two$conf.int[1]), num(two$conf.int[2]),
    num(greater$p.value), num(less$p.value)))
}
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
writeLines(c("[", paste(json, collapse = ",\n"), "]"), file.path(here, "poisson.json"))
cat(sprintf("%d cases written to %s\n", length(cases), file.path(here, "poisson.json")))
