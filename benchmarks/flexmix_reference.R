# Reference fits of R's flexmix for daskmix's RegressionMixture.
#
# Writes one JSON file per case into the directory given as the first argument
# (default: tests/data): the data, flexmix's best log-likelihood over 10
# restarts (EM run to a tolerance of 1e-12), its coefficients, and refit()'s
# coefficients and standard errors (its BFGS run to a relative tolerance of
# 1e-15, so that its coefficients are the maximum likelihood estimates). Needs R with flexmix and
# jsonlite (Debian: r-cran-flexmix, r-cran-jsonlite). Run by
# benchmarks/bench_flexmix.py; the committed files let the tests run without R.
#
#   Rscript benchmarks/flexmix_reference.R tests/data

suppressMessages({
  library(flexmix)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args) > 0) args[1] else "tests/data"
control <- list(tolerance = 1e-12, iter.max = 5000, minprior = 0)

best_fit <- function(formula, data, model, concomitant = NULL) {
  set.seed(2024)
  fits <- lapply(1:10, function(i) {
    if (is.null(concomitant)) {
      flexmix(formula, data = data, k = 2, model = model, control = control)
    } else {
      flexmix(formula, data = data, k = 2, model = model,
              concomitant = concomitant, control = control)
    }
  })
  logliks <- sapply(fits, function(f) as.numeric(logLik(f)))
  ok <- sapply(fits, function(f) f@k == 2)
  fits[[which.max(ifelse(ok, logliks, -Inf))]]
}

describe <- function(name, fit, data, with_refit = TRUE) {
  out <- list(
    name = name,
    flexmix_version = as.character(packageVersion("flexmix")),
    data = as.list(data),
    loglik = as.numeric(logLik(fit)),
    parameters = lapply(seq_len(fit@k), function(k) as.list(parameters(fit, component = k)[, 1])),
    prior = as.numeric(prior(fit)),
    iterations = fit@iter
  )
  names(out$parameters) <- paste0("Comp.", seq_len(fit@k))
  if (!is.null(fit@concomitant) && length(fit@concomitant@coef) > 0) {
    out$concomitant <- as.list(as.data.frame(parameters(fit, which = "concomitant")))
  }
  if (with_refit) {
    # BFGS to a tight tolerance: refit()'s optimum is the maximum likelihood
    r <- refit(fit, optim_control = list(reltol = 1e-15, maxit = 10000))
    out$refit_coef <- as.list(r@coef)
    out$refit_loglik <- FLXlogLikfun(fit)(r@coef)
    out$refit_se <- as.list(sqrt(diag(r@vcov)))
  }
  out
}

write_case <- function(case) {
  path <- file.path(out_dir, paste0("flexmix_", case$name, ".json"))
  writeLines(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = FALSE), path)
  cat(path, "\n")
}

data(NPreg)
npreg <- NPreg[, c("x", "yn", "yp", "yb")]

# 1. Poisson mixture of yp ~ x on NPreg
fit <- best_fit(yp ~ x, npreg, FLXMRglm(family = "poisson"))
write_case(describe("poisson", fit, npreg[, c("x", "yp")]))

# 2. Gaussian mixture of yn ~ x + x^2 on NPreg
fit <- best_fit(yn ~ x + I(x^2), npreg, FLXMRglm(family = "gaussian"))
write_case(describe("gaussian", fit, npreg[, c("x", "yn")]))

# 3. Binomial mixture with 10 trials per row (NPreg's x and classes)
set.seed(7)
eta <- ifelse(NPreg$class == 1, -2 + 0.5 * NPreg$x, 1.5 - 0.4 * NPreg$x)
successes <- rbinom(nrow(NPreg), 10, plogis(eta))
binom <- data.frame(x = NPreg$x, successes = successes, failures = 10 - successes)
fit <- best_fit(cbind(successes, failures) ~ x, binom, FLXMRglm(family = "binomial"))
write_case(describe("binomial", fit, binom))

# 4. A mixture of experts: y ~ x, logistic gate in a covariate z
set.seed(11)
n <- 400
x <- runif(n, 0, 10)
z <- rnorm(n)
second <- runif(n) < plogis(-0.5 + 1.5 * z)
y <- ifelse(second, 10 - 0.8 * x + rnorm(n, sd = 1.5), 2 + x + rnorm(n, sd = 1))
experts <- data.frame(x = x, z = z, y = y)
fit <- best_fit(y ~ x, experts, FLXMRglm(family = "gaussian"),
                concomitant = FLXPmultinom(~ z))
write_case(describe("experts", fit, experts))

# 5. NPreg's one-trial yb: refit() fails (singular Hessian); loglik only
fit <- best_fit(cbind(yb, 1 - yb) ~ x, npreg, FLXMRglm(family = "binomial"))
case <- describe("onetrial", fit, npreg[, c("x", "yb")], with_refit = FALSE)
case$refit_error <- tryCatch({ refit(fit); "" }, error = function(e) conditionMessage(e))
write_case(case)
