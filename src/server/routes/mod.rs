//! The API's routes, one module per resource; handlers stay thin and call the layers below.

pub mod health;
pub mod judge;
