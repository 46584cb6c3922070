//! Issue 15's findings, each as the story of the attack that no longer works: memory and lockout
//! abuse of the account forms, open redirects, requests to internal addresses, connections that
//! never end, device values out of range, and the contract of error answers.

mod accounts;
mod connections;
mod device_input;
mod every_check;
mod json_errors;
mod openapi_schemas;
mod targets;
mod tls;
