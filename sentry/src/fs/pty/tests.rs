use super::*;

/// The `tty` group of Debian.
const TTY_GID: u32 = 5;

/// A pseudo-terminal outside any kernel (no task, no signals): its master and an open slave.
fn pair(devpts: &Arc<Devpts>) -> (Master, Arc<dyn FileOps>) {
    let events = Arc::new(Events::default());
    let pty = devpts.allocate(|i| Pty::new(devpts.clone(), i, Weak::new(), events, Owner { uid: 7, gid: TTY_GID })).unwrap();
    let master = Master { pty: pty.clone(), stat: Stat::default() };
    assert_eq!(pty.open_slave(libc::O_RDWR, None).err(), Some(Errno::EIO), "locked until unlockpt");
    pty.lock().locked = false;
    let slave = pty.open_slave(libc::O_RDWR | libc::O_NOCTTY, None).unwrap();
    (master, slave)
}

fn read(f: &dyn FileOps) -> SysResult<Vec<u8>> {
    let mut buf = [0u8; 512];
    f.read(0, &mut buf).map(|n| buf[..n].to_vec())
}

const IN: u32 = libc::POLLIN as u32;
const OUT: u32 = libc::POLLOUT as u32;
const HUP: u32 = libc::POLLHUP as u32;

#[test]
fn master_input_reaches_the_slave_by_lines_with_echo() {
    let devpts = Devpts::new();
    let (master, slave) = pair(&devpts);
    assert_eq!(slave.read(0, &mut [0u8; 8]), Err(Errno::EAGAIN));
    assert_eq!(slave.poll() & IN, 0);
    assert_eq!(master.write(0, b"hello").unwrap(), 5);
    assert_eq!(slave.read(0, &mut [0u8; 8]), Err(Errno::EAGAIN), "no line yet");
    assert_eq!(master.write(0, b"\r").unwrap(), 1);
    assert_ne!(slave.poll() & IN, 0);
    assert_eq!(read(slave.as_ref()).unwrap(), b"hello\n");
    assert_eq!(read(&master).unwrap(), b"hello\r\n", "the echo");
    assert_eq!(slave.write(0, b"out\n").unwrap(), 4);
    assert_ne!(master.poll() & IN, 0);
    assert_eq!(read(&master).unwrap(), b"out\r\n");
    assert_eq!(master.read(0, &mut [0u8; 8]), Err(Errno::EAGAIN));
}

#[test]
fn closing_the_slave_gives_the_master_eio_after_its_data() {
    let devpts = Devpts::new();
    let (master, slave) = pair(&devpts);
    slave.write(0, b"bye").unwrap();
    drop(slave);
    assert_eq!(master.poll() & (IN | HUP), IN | HUP);
    assert_eq!(read(&master).unwrap(), b"bye");
    assert_eq!(read(&master), Err(Errno::EIO));
    assert_eq!(master.write(0, b"x").unwrap(), 1, "input is still taken");
    let slave = master.pty.open_slave(libc::O_RDWR, None).unwrap();
    assert_eq!(master.poll() & HUP, 0, "reopened");
    drop(slave);
}

#[test]
fn closing_the_master_hangs_the_slave_up_and_frees_the_index_last() {
    let devpts = Devpts::new();
    let (master, slave) = pair(&devpts);
    let index = master.pty.index();
    assert_eq!(index, 0);
    let dir = devpts.root();
    assert!(dir.lookup(b"0").unwrap().stat().is_ok());
    master.write(0, b"unread\n").unwrap();
    drop(master);
    assert_eq!(dir.lookup(b"0").unwrap().stat().err(), Some(Errno::ENOENT), "the node goes with the master");
    assert_eq!(read(slave.as_ref()).unwrap(), b"", "hung up: end of file");
    assert_eq!(slave.write(0, b"x"), Err(Errno::EIO));
    assert_eq!(slave.poll() & (IN | OUT | HUP), IN | OUT | HUP);
    assert!(devpts.get(index).is_some(), "the slave still holds index 0");
    let (m2, s2) = pair(&devpts);
    assert_eq!(m2.pty.index(), 1);
    drop(slave);
    assert!(devpts.get(index).is_none());
    let (m3, _s3) = pair(&devpts);
    assert_eq!(m3.pty.index(), 0, "the lowest free index again");
    drop((m2, s2));
}

#[test]
fn devpts_lists_open_masters_and_ptmx() {
    let devpts = Devpts::new();
    let (m0, _s0) = pair(&devpts);
    let (_m1, _s1) = pair(&devpts);
    let dir = devpts.root();
    let names = |dir: &Arc<dyn Inode>| -> Vec<Vec<u8>> { dir.open(libc::O_RDONLY).unwrap().readdir(0).unwrap().into_iter().map(|e| e.name).collect() };
    assert_eq!(names(&dir), [&b"."[..], b"..", b"ptmx", b"0", b"1"]);
    drop(m0);
    assert_eq!(names(&dir), [&b"."[..], b"..", b"ptmx", b"1"]);
    let st = dir.lookup(b"1").unwrap().stat().unwrap();
    assert_eq!((st.mode, st.rdev, st.uid, st.gid), (S_IFCHR | 0o620, libc::makedev(136, 1), 7, TTY_GID));
    assert_eq!(dir.lookup(b"01").err(), Some(Errno::ENOENT));
    assert_eq!(dir.lookup(b"ptmx").unwrap().stat().unwrap().mode, S_IFCHR);
    assert_eq!(dir.statfs().unwrap().fs_type, DEVPTS_SUPER_MAGIC);
}

#[test]
fn non_canonical_reads_follow_vmin() {
    let devpts = Devpts::new();
    let (master, slave) = pair(&devpts);
    let mut t = master.pty.lock().ld.termios();
    t.lflag &= !(libc::ICANON | libc::ECHO);
    t.cc[libc::VMIN] = 3;
    master.pty.set_termios(t, None, false);
    master.write(0, b"ab").unwrap();
    assert_eq!(slave.read(0, &mut [0u8; 8]), Err(Errno::EAGAIN), "fewer than VMIN");
    assert_eq!(slave.poll() & IN, 0);
    assert_eq!(read(slave.as_ref()).unwrap_err(), Errno::EAGAIN);
    let mut two = [0u8; 2];
    assert_eq!(slave.read(0, &mut two).unwrap(), 2, "a buffer smaller than VMIN is filled");
    master.write(0, b"cde").unwrap();
    assert_eq!(read(slave.as_ref()).unwrap(), b"cde");
    t.cc[libc::VMIN] = 0;
    master.pty.set_termios(t, None, false);
    assert_eq!(read(slave.as_ref()).unwrap(), b"", "VMIN 0, VTIME 0: whatever is there, maybe nothing");
}

#[test]
fn ioctls_report_the_queues_and_the_index() {
    let devpts = Devpts::new();
    let (master, slave) = pair(&devpts);
    master.write(0, b"l1\nl2\npq").unwrap();
    assert_eq!(slave.poll() & IN, IN);
    let st = master.pty.lock();
    assert_eq!(st.ld.readable_len(), 6);
    assert_eq!(st.ld.output_len(), b"l1\r\nl2\r\npq".len());
    drop(st);
    assert_eq!(master.pty.encoded_dev(), 0x8800);
    assert_eq!(speeds_of(libc::B38400 | libc::CS8), (38400, 38400));
    assert_eq!(speeds_of(libc::B115200 | (libc::B9600 << 16)), (9600, 115_200));
}
