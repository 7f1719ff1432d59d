//! The API's routes, one module per resource; handlers stay thin and call the layers below.

pub mod analyses;
pub mod configs;
pub mod health;
pub mod judge;
