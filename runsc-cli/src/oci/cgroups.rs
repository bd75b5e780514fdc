//! cgroups (to be written)
