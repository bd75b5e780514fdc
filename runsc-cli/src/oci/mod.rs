//! The OCI runtime: `sandbox` as a drop-in for runc under containerd, Docker, Podman and
//! Kubernetes.

pub mod cgroups;
pub mod spec;
