//! Builds the sentry's vDSO (`vdso/vdso.c`, laid out by `vdso/vdso.lds`) with the system C
//! compiler. The sentry embeds the resulting shared object (`$OUT_DIR/vdso.so`) and maps it into
//! every address space.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("vdso");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("vdso.so");
    let (source, script) = (dir.join("vdso.c"), dir.join("vdso.lds"));
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-env-changed=CC");

    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(&cc);
    cmd.args(["-shared", "-fPIC", "-nostdlib", "-O2", "-fno-stack-protector", "-fno-builtin", "-Wall", "-Werror"])
        .args(["-Wl,--hash-style=both", "-Wl,-soname=linux-vdso.so.1", "-Wl,--no-undefined", "-Wl,--eh-frame-hdr"])
        .args(["-Wl,--build-id=sha1", "-Wl,-z,max-page-size=4096", "-Wl,-z,noexecstack", "-Wl,--strip-all"])
        .arg(format!("-Wl,-T,{}", script.display()))
        .arg("-o")
        .arg(&out)
        .arg(&source);
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "building the vDSO failed ({s}): `{cc}` could not compile {} (see its messages above). \
             The sentry needs a C compiler for x86_64 Linux (gcc: apt-get install gcc); set CC to use another.",
            source.display()
        ),
        Err(e) => panic!(
            "building the vDSO: cannot run the C compiler `{cc}`: {e}. \
             Install gcc (apt-get install gcc) or set CC to an x86_64 Linux C compiler."
        ),
    }
}
