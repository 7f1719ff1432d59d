//! The statistics of the Mann-Whitney judge: pooled ranking, the Mann-Whitney test with R's
//! confidence interval and estimate, R's root finder, and the effect sizes.

pub mod effect_size;
pub mod mann_whitney;
pub mod rank;
pub mod zeroin;
