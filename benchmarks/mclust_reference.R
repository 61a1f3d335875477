# mclust's 14 covariance models on five small data sets: the reference that
# tests/test_mclust_models.py and benchmarks/bench_mclust.py --compare check
# daskmix against. R is never a dependency of daskmix: this script is run by
# hand and its output, tests/data/mclust_reference.json, is committed.
#
# Run from the repository root:
#   Rscript benchmarks/mclust_reference.R
# (needs R with the mclust and jsonlite packages; Debian: r-cran-mclust,
# r-cran-jsonlite). The synthetic CSV files are written by
# benchmarks/mclust_datasets.py; faithful.csv is R's faithful, written here.
#
# For every data set, model and K in 1..4 it records
# * mclust's default fit, Mclust(X, G = K, modelNames = m): loglik, BIC, df;
# * the best fit over several starts, each run by mclust's me() to a tight
#   tolerance (emControl(tol = c(1e-10, sqrt(eps)))): mclust's default
#   hierarchical start with three of its data transformations (hcUse = "SVD",
#   "VARS", "STD"), the default fit's own responsibilities, 10 k-means partitions
#   (kmeans() with seeds 1..10) and 5 random partitions (seeds 1..5), and
#   the default fit itself (which can be a hair better: mclust's EM is not
#   exactly monotone for the models whose M-step iterates). Its
#   loglik, BIC (mclust's bic(), 2 loglik - df log n), the start that won,
#   and its parameters (pro, mean, sigma).
# A start whose run fails (a singular covariance, NA log-likelihood) is
# skipped, as mclust skips it.

suppressPackageStartupMessages({
  library(mclust)
  library(jsonlite)
})

models <- c("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
            "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV")
max_k <- 4
tight <- emControl(tol = c(1e-10, sqrt(.Machine$double.eps)))

write.csv(faithful, "tests/data/faithful.csv", row.names = FALSE, quote = FALSE)
read_data <- function(name) {
  if (name == "iris") return(as.matrix(iris[, 1:4]))
  as.matrix(read.csv(file.path("tests/data", paste0(name, ".csv"))))
}
datasets <- c("iris", "faithful", "blobs3", "eve2", "wide5")

partitions <- function(X, K) {
  n <- nrow(X)
  if (K == 1) return(list(one = rep(1L, n)))
  starts <- list()
  for (use in c("SVD", "VARS", "STD")) {
    pairs <- tryCatch(hc(X, modelName = "VVV", use = use), error = function(e) NULL)
    if (!is.null(pairs)) starts[[paste0("hc-", use)]] <- as.vector(hclass(pairs, K))
  }
  for (seed in 1:10) {
    set.seed(seed)
    fit <- tryCatch(kmeans(X, K, iter.max = 100), error = function(e) NULL)
    if (!is.null(fit)) starts[[paste0("kmeans-", seed)]] <- fit$cluster
  }
  for (seed in 1:5) {
    set.seed(100 + seed)
    starts[[paste0("random-", seed)]] <- sample(rep_len(1:K, n))
  }
  starts
}

run_me <- function(X, model, z) {
  fit <- tryCatch(
    suppressWarnings(me(data = X, modelName = model, z = z, control = tight)),
    error = function(e) NULL)
  if (is.null(fit) || !is.finite(fit$loglik) || fit$loglik >= .Machine$double.xmax / 2)
    return(NULL)
  fit
}

parameters_of <- function(params, K, d) {
  sigma <- params$variance$sigma
  list(
    pro = as.vector(params$pro),
    mean = unname(t(matrix(params$mean, d, K))),
    sigma = lapply(seq_len(K), function(k) unname(matrix(sigma[, , k], d, d)))
  )
}

out <- list(
  mclust_version = as.character(packageVersion("mclust")),
  r_version = R.version.string,
  max_k = max_k,
  models = models,
  datasets = list()
)
for (name in datasets) {
  X <- read_data(name)
  n <- nrow(X); d <- ncol(X)
  fits <- list()
  for (K in 1:max_k) {
    starts <- partitions(X, K)
    for (model in models) {
      default <- tryCatch(
        suppressWarnings(Mclust(X, G = K, modelNames = model, verbose = FALSE)),
        error = function(e) NULL)
      best <- NULL; best_start <- NA
      if (!is.null(default)) { best <- default; best_start <- "default" }
      if (!is.null(default)) {
        fit <- run_me(X, model, default$z)
        if (!is.null(fit) && fit$loglik > best$loglik) {
          best <- fit; best_start <- "default-tight"
        }
      }
      for (start in names(starts)) {
        fit <- run_me(X, model, unmap(starts[[start]], groups = 1:K))
        if (!is.null(fit) && (is.null(best) || fit$loglik > best$loglik)) {
          best <- fit; best_start <- start
        }
      }
      df <- nMclustParams(model, d, K)
      entry <- list(
        model = model, K = K, df = df,
        loglik_default = if (is.null(default)) NA else default$loglik,
        bic_default = if (is.null(default)) NA else default$bic
      )
      if (!is.null(best)) {
        entry$loglik <- best$loglik
        entry$bic <- bic(model, best$loglik, n, d, K)
        entry$start <- best_start
        entry$parameters <- parameters_of(best$parameters, K, d)
      }
      fits[[length(fits) + 1]] <- entry
      cat(sprintf("%-8s K=%d %s default %.4f best %.4f (%s)\n", name, K, model,
                  entry$loglik_default, if (is.null(best)) NA else best$loglik,
                  best_start))
    }
  }
  out$datasets[[name]] <- list(n = n, d = d, fits = fits)
}
write_json(out, "tests/data/mclust_reference.json", auto_unbox = TRUE,
           digits = I(10), na = "null", pretty = FALSE)
