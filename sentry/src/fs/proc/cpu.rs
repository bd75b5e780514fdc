//! `/proc/cpuinfo`, from the `cpuid` instruction (the host's `/proc` is never read). The
//! workload runs on the same CPU and can execute `cpuid` itself, so the flags agree with what
//! it sees.

use std::arch::x86_64::{CpuidResult, __cpuid, __cpuid_count};
use std::fmt::Write as _;

/// What `cpuinfo` shows of the processor.
#[derive(Clone, Debug, Default)]
pub struct CpuInfo {
    pub vendor: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub model_name: String,
    pub mhz: u32,
    pub cache_kb: u32,
    pub cpuid_level: u32,
    pub phys_bits: u32,
    pub virt_bits: u32,
    pub flags: Vec<&'static str>,
}

fn cpuid(leaf: u32, sub: u32) -> CpuidResult {
    __cpuid_count(leaf, sub)
}

/// Linux's names for the bits of one cpuid register; "" for bits it does not show.
type BitNames = [&'static str; 32];

const LEAF1_EDX: BitNames = [
    "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "", "sep", "mtrr", "pge", "mca", "cmov", "pat", "pse36", "pn",
    "clflush", "", "dts", "acpi", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "tm", "ia64", "pbe",
];
// Only the bits that do not repeat leaf 1.
const EXT1_EDX: BitNames = [
    "", "", "", "", "", "", "", "", "", "", "", "syscall", "", "", "", "", "", "", "", "mp", "nx", "", "mmxext", "", "", "fxsr_opt",
    "pdpe1gb", "rdtscp", "", "lm", "3dnowext", "3dnow",
];
const LEAF1_ECX: BitNames = [
    "pni", "pclmulqdq", "dtes64", "monitor", "ds_cpl", "vmx", "smx", "est", "tm2", "ssse3", "cid", "sdbg", "fma", "cx16", "xtpr", "pdcm",
    "", "pcid", "dca", "sse4_1", "sse4_2", "x2apic", "movbe", "popcnt", "tsc_deadline_timer", "aes", "xsave", "", "avx", "f16c",
    "rdrand", "hypervisor",
];
const EXT1_ECX: BitNames = [
    "lahf_lm", "cmp_legacy", "svm", "extapic", "cr8_legacy", "abm", "sse4a", "misalignsse", "3dnowprefetch", "osvw", "ibs", "xop",
    "skinit", "wdt", "", "lwp", "fma4", "tce", "", "nodeid_msr", "", "tbm", "topoext", "perfctr_core", "perfctr_nb", "", "bpext",
    "ptsc", "perfctr_llc", "mwaitx", "", "",
];
const LEAF7_EBX: BitNames = [
    "fsgsbase", "tsc_adjust", "sgx", "bmi1", "hle", "avx2", "", "smep", "bmi2", "erms", "invpcid", "rtm", "cqm", "", "mpx", "rdt_a",
    "avx512f", "avx512dq", "rdseed", "adx", "smap", "avx512ifma", "", "clflushopt", "clwb", "intel_pt", "avx512pf", "avx512er",
    "avx512cd", "sha_ni", "avx512bw", "avx512vl",
];
const XSAVE_EAX: BitNames = [
    "xsaveopt", "xsavec", "xgetbv1", "xsaves", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "",
];
const LEAF7_ECX: BitNames = [
    "", "avx512vbmi", "umip", "pku", "ospke", "waitpkg", "avx512_vbmi2", "", "gfni", "vaes", "vpclmulqdq", "avx512_vnni",
    "avx512_bitalg", "tme", "avx512_vpopcntdq", "", "la57", "", "", "", "", "", "rdpid", "", "bus_lock_detect", "cldemote", "",
    "movdiri", "movdir64b", "enqcmd", "sgx_lc", "",
];
const LEAF7_EDX: BitNames = [
    "", "", "avx512_4vnniw", "avx512_4fmaps", "fsrm", "", "", "", "avx512_vp2intersect", "", "md_clear", "", "", "", "serialize", "",
    "tsxldtrk", "", "pconfig", "arch_lbr", "ibt", "", "amx_bf16", "avx512_fp16", "amx_tile", "amx_int8", "", "", "flush_l1d",
    "arch_capabilities", "", "",
];

fn names(reg: u32, table: &BitNames, out: &mut Vec<&'static str>) {
    for (bit, name) in table.iter().enumerate() {
        if !name.is_empty() && reg & (1 << bit) != 0 {
            out.push(name);
        }
    }
}

fn text(regs: &[u32]) -> String {
    let bytes: Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).take_while(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).trim().to_string()
}

/// Reads the processor's identification.
pub fn probe() -> CpuInfo {
    let l0 = __cpuid(0);
    let max = l0.eax;
    let vendor = text(&[l0.ebx, l0.edx, l0.ecx]);
    let l1 = cpuid(1, 0);
    let base_family = (l1.eax >> 8) & 0xf;
    let base_model = (l1.eax >> 4) & 0xf;
    let family = if base_family == 0xf { base_family + ((l1.eax >> 20) & 0xff) } else { base_family };
    let model = if base_family >= 6 { base_model | (((l1.eax >> 16) & 0xf) << 4) } else { base_model };
    let ext_max = __cpuid(0x8000_0000).eax;
    let ext = |leaf: u32| if ext_max >= leaf { cpuid(leaf, 0) } else { CpuidResult { eax: 0, ebx: 0, ecx: 0, edx: 0 } };
    let std_leaf = |leaf: u32, sub: u32| if max >= leaf { cpuid(leaf, sub) } else { CpuidResult { eax: 0, ebx: 0, ecx: 0, edx: 0 } };
    let brand: Vec<u32> = (0x8000_0002..=0x8000_0004).flat_map(|l| { let r = ext(l); [r.eax, r.ebx, r.ecx, r.edx] }).collect();
    let model_name = match text(&brand) {
        n if n.is_empty() => "unknown".to_string(),
        n => n.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    let mhz = match std_leaf(0x16, 0).eax & 0xffff {
        0 => 2000,
        m => m,
    };
    let e1 = ext(0x8000_0001);
    let l7 = std_leaf(7, 0);
    let xs = std_leaf(0xd, 1);
    let mut flags = Vec::new();
    names(l1.edx, &LEAF1_EDX, &mut flags);
    names(e1.edx, &EXT1_EDX, &mut flags);
    names(l1.ecx, &LEAF1_ECX, &mut flags);
    names(e1.ecx, &EXT1_ECX, &mut flags);
    names(l7.ebx, &LEAF7_EBX, &mut flags);
    names(xs.eax, &XSAVE_EAX, &mut flags);
    names(l7.ecx, &LEAF7_ECX, &mut flags);
    names(l7.edx, &LEAF7_EDX, &mut flags);
    let sizes = ext(0x8000_0008).eax;
    CpuInfo {
        vendor,
        family,
        model,
        stepping: l1.eax & 0xf,
        model_name,
        mhz,
        cache_kb: ext(0x8000_0006).ecx >> 16,
        cpuid_level: max,
        phys_bits: if sizes == 0 { 46 } else { sizes & 0xff },
        virt_bits: if sizes == 0 { 48 } else { (sizes >> 8) & 0xff },
        flags,
    }
}

/// `/proc/cpuinfo` for `cpus` processors.
pub fn cpuinfo(c: &CpuInfo, cpus: usize) -> String {
    let mut s = String::new();
    for i in 0..cpus {
        let _ = write!(
            s,
            "processor\t: {i}\nvendor_id\t: {}\ncpu family\t: {}\nmodel\t\t: {}\nmodel name\t: {}\nstepping\t: {}\n\
             cpu MHz\t\t: {}.000\ncache size\t: {} KB\nphysical id\t: 0\nsiblings\t: {cpus}\ncore id\t\t: {i}\n\
             cpu cores\t: {cpus}\napicid\t\t: {i}\ninitial apicid\t: {i}\nfpu\t\t: yes\nfpu_exception\t: yes\n\
             cpuid level\t: {}\nwp\t\t: yes\nflags\t\t: {}\nbugs\t\t:\nbogomips\t: {}.00\nclflush size\t: 64\n\
             cache_alignment\t: 64\naddress sizes\t: {} bits physical, {} bits virtual\npower management:\n\n",
            c.vendor,
            c.family,
            c.model,
            c.model_name,
            c.stepping,
            c.mhz,
            c.cache_kb,
            c.cpuid_level,
            c.flags.join(" "),
            c.mhz * 2,
            c.phys_bits,
            c.virt_bits,
        );
    }
    s
}
