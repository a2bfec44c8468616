//! Tidy rules, run as tests.
