//! config.json (to be written)
