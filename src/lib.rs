//! Tendero keeps the promises customer-service agents make: scheduled in the customer's time zone, prompted to
//! the same agent with the customer's whole story, measured by evidence.

pub mod app;
pub mod auth;
pub mod channels;
pub mod clock;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod prometheus;
pub mod repo;
pub mod routes;
pub mod scheduler;
pub mod service;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod tzdata;
pub mod views;
pub mod web;
