//! The API's routes, one module per resource; handlers stay thin and call the layers below.

pub mod analyses;
pub mod configs;
pub mod flagger;
pub mod health;
pub mod judge;
pub mod kayenta;
