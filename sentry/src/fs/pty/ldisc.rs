//! The line discipline of a pseudo-terminal: the terminal behaviour between what is typed
//! into the master and what the slave's reader gets, and between what the slave writes and
//! what the master's reader gets.
//!
//! Input (bytes written to the master) goes through the termios input flags (`ISTRIP`,
//! `ICRNL`, `INLCR`, `IGNCR`, `IXON`), keyboard signals (`ISIG`), line editing in canonical
//! mode (`ERASE`, `WERASE`, `KILL`, `EOF`, `EOL`, `LNEXT`, `REPRINT`) and echo (`ECHO`,
//! `ECHOE`, `ECHOK`, `ECHOKE`, `ECHONL`, `ECHOCTL`). Output (bytes written to the slave) goes
//! through `OPOST` (`ONLCR`, `OCRNL`, `ONOCR`, `ONLRET`, `OLCUC`, `XTABS`). Echoes are output
//! too, queued for the master's reader.
//!
//! This is plain state: no locks, no sleeping, no signals sent. [`Ldisc::receive`] reports
//! which signals the input raised; the pseudo-terminal sends them.

use std::collections::VecDeque;

use crate::abi::Termios;

/// Input the slave has not read yet, at most (Linux's `N_TTY_BUF_SIZE`). A canonical line
/// being edited keeps one byte of it for its end.
pub const INPUT_MAX: usize = 4096;
/// Output the master has not read yet, at most: writes to the slave wait beyond it.
pub const OUTPUT_MAX: usize = 65536;

/// The settings of a new terminal, as Linux gives them to a pseudo-terminal (`stty sane`
/// with 38400 baud): `ICRNL IXON`, `OPOST ONLCR`, `B38400 CS8 CREAD`, `ISIG ICANON ECHO
/// ECHOE ECHOK ECHOCTL ECHOKE IEXTEN`, and the usual control characters.
pub fn default_termios() -> Termios {
    let mut cc = [0u8; 19];
    let chars = [
        (libc::VINTR, 0x03),
        (libc::VQUIT, 0x1c),
        (libc::VERASE, 0x7f),
        (libc::VKILL, 0x15),
        (libc::VEOF, 0x04),
        (libc::VTIME, 0),
        (libc::VMIN, 1),
        (libc::VSTART, 0x11),
        (libc::VSTOP, 0x13),
        (libc::VSUSP, 0x1a),
        (libc::VREPRINT, 0x12),
        (libc::VDISCARD, 0x0f),
        (libc::VWERASE, 0x17),
        (libc::VLNEXT, 0x16),
    ];
    for (i, c) in chars {
        cc[i] = c;
    }
    Termios {
        iflag: libc::ICRNL | libc::IXON,
        oflag: libc::OPOST | libc::ONLCR,
        cflag: libc::B38400 | libc::CS8 | libc::CREAD,
        lflag: libc::ISIG | libc::ICANON | libc::ECHO | libc::ECHOE | libc::ECHOK | libc::ECHOCTL | libc::ECHOKE | libc::IEXTEN,
        line: 0,
        cc,
    }
}

/// Control characters, as `ECHOCTL` shows them (`^C`).
fn is_ctl(c: u8) -> bool {
    c < 0x20 || c == 0x7f
}

/// A UTF-8 continuation byte.
fn is_continuation(c: u8) -> bool {
    c & 0xc0 == 0x80
}

/// The line discipline's state: queues, the termios settings, the output column.
pub struct Ldisc {
    termios: Termios,
    /// Finished lines (canonical mode), oldest first; an empty one is an end of file.
    lines: VecDeque<Vec<u8>>,
    /// Bytes of `lines[0]` already read.
    line_pos: usize,
    /// The line being edited (canonical mode).
    partial: Vec<u8>,
    /// Input of non-canonical mode.
    raw: VecDeque<u8>,
    /// The next input byte is taken literally (after `LNEXT`).
    lnext: bool,
    /// Output for the master's reader (what the slave wrote, and echoes).
    out: VecDeque<u8>,
    /// Column of the output, for erasing tabs.
    column: usize,
    /// Column at which the line being edited started.
    canon_column: usize,
    /// Output stopped (`STOP` character, `TCOOFF`): slave writes wait.
    pub stopped: bool,
}

impl Default for Ldisc {
    fn default() -> Self {
        Ldisc::new()
    }
}

impl Ldisc {
    pub fn new() -> Ldisc {
        Ldisc {
            termios: default_termios(),
            lines: VecDeque::new(),
            line_pos: 0,
            partial: Vec::new(),
            raw: VecDeque::new(),
            lnext: false,
            out: VecDeque::new(),
            column: 0,
            canon_column: 0,
            stopped: false,
        }
    }

    pub fn termios(&self) -> Termios {
        self.termios
    }

    fn i(&self, flag: u32) -> bool {
        self.termios.iflag & flag != 0
    }

    fn o(&self, flag: u32) -> bool {
        self.termios.oflag & flag != 0
    }

    fn l(&self, flag: u32) -> bool {
        self.termios.lflag & flag != 0
    }

    /// Whether `c` is the control character `index` (0 disables one, as `_POSIX_VDISABLE`).
    fn is(&self, c: u8, index: usize) -> bool {
        let v = self.termios.cc[index];
        v != 0 && v == c
    }

    pub fn canonical(&self) -> bool {
        self.l(libc::ICANON)
    }

    /// `VMIN` and `VTIME` (tenths of a second).
    pub fn min_time(&self) -> (u8, u8) {
        (self.termios.cc[libc::VMIN], self.termios.cc[libc::VTIME])
    }

    /// Changes the settings. Leaving canonical mode makes every byte typed readable; entering
    /// it makes what was typed one finished line.
    pub fn set_termios(&mut self, t: Termios) {
        let was = self.canonical();
        self.termios = t;
        let now = self.canonical();
        if was && !now {
            let pos = std::mem::take(&mut self.line_pos);
            for (i, line) in std::mem::take(&mut self.lines).into_iter().enumerate() {
                self.raw.extend(&line[if i == 0 { pos } else { 0 }..]);
            }
            self.raw.extend(std::mem::take(&mut self.partial));
        } else if !was && now && !self.raw.is_empty() {
            let line: Vec<u8> = self.raw.drain(..).collect();
            self.lines.push_back(line);
        }
        if !self.i(libc::IXON) {
            self.stopped = false;
        }
    }

    /// Bytes typed and not read yet, the line being edited included.
    fn input_len(&self) -> usize {
        let lines: usize = self.lines.iter().map(Vec::len).sum::<usize>() - self.line_pos;
        lines + self.partial.len() + self.raw.len()
    }

    /// Whether more input can be taken now. A canonical line that fills the queue with
    /// nothing finished before it still takes input (its end, or edits; other bytes are
    /// dropped), so that a writer never waits for a reader who waits for a line.
    pub fn input_room(&self) -> bool {
        self.input_len() < INPUT_MAX || (self.canonical() && self.lines.is_empty())
    }

    /// What `FIONREAD` on the slave says: the bytes a reader could get, finished lines only in
    /// canonical mode.
    pub fn readable_len(&self) -> usize {
        if self.canonical() {
            self.lines.iter().map(Vec::len).sum::<usize>() - self.line_pos
        } else {
            self.raw.len()
        }
    }

    /// Whether a canonical read would return now (a finished line, or an end of file).
    pub fn line_ready(&self) -> bool {
        !self.lines.is_empty()
    }

    /// Non-canonical input waiting.
    pub fn raw_len(&self) -> usize {
        self.raw.len()
    }

    /// Reads from the first finished line (canonical mode): at most the rest of that line.
    /// `None` when no line is finished; `Some(0)` for an end of file.
    pub fn read_line(&mut self, buf: &mut [u8]) -> Option<usize> {
        let front = self.lines.front()?;
        let rest = &front[self.line_pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.line_pos += n;
        if self.line_pos >= front.len() {
            self.lines.pop_front();
            self.line_pos = 0;
        }
        Some(n)
    }

    /// Reads non-canonical input.
    pub fn read_raw(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.raw.len());
        for (dst, src) in buf.iter_mut().zip(self.raw.drain(..n)) {
            *dst = src;
        }
        n
    }

    /// Drops the input not read yet, the line being edited included.
    pub fn flush_input(&mut self) {
        self.lines.clear();
        self.line_pos = 0;
        self.partial.clear();
        self.raw.clear();
        self.lnext = false;
    }

    /// Drops the output the master has not read.
    pub fn flush_output(&mut self) {
        self.out.clear();
    }

    /// Output waiting for the master's reader.
    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    /// Whether a slave write can queue output now.
    pub fn output_room(&self) -> bool {
        !self.stopped && self.out.len() < OUTPUT_MAX
    }

    /// Takes output for the master's reader.
    pub fn take_output(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.out.len());
        for (dst, src) in buf.iter_mut().zip(self.out.drain(..n)) {
            *dst = src;
        }
        n
    }

    /// A slave write: output processing into the master's queue. Returns the bytes taken (0
    /// when output is stopped or the queue is full).
    pub fn write(&mut self, data: &[u8]) -> usize {
        let mut n = 0;
        for &c in data {
            if !self.output_room() {
                break;
            }
            self.output(c);
            n += 1;
        }
        n
    }

    /// Queues one output byte, post-processed when `OPOST` is set.
    fn output(&mut self, c: u8) {
        if !self.o(libc::OPOST) {
            self.out.push_back(c);
            return;
        }
        match c {
            b'\n' => {
                if self.o(libc::ONLRET) {
                    self.column = 0;
                }
                if self.o(libc::ONLCR) {
                    self.out.extend(b"\r\n");
                    self.column = 0;
                    self.canon_column = 0;
                    return;
                }
                self.canon_column = self.column;
                self.out.push_back(c);
            }
            b'\r' => {
                if self.o(libc::ONOCR) && self.column == 0 {
                    return;
                }
                if self.o(libc::OCRNL) {
                    if self.o(libc::ONLRET) {
                        self.column = 0;
                        self.canon_column = 0;
                    }
                    self.out.push_back(b'\n');
                    return;
                }
                self.column = 0;
                self.canon_column = 0;
                self.out.push_back(c);
            }
            b'\t' => {
                let spaces = 8 - (self.column & 7);
                self.column += spaces;
                if self.termios.oflag & libc::TABDLY == libc::XTABS {
                    self.out.extend(std::iter::repeat_n(b' ', spaces));
                } else {
                    self.out.push_back(c);
                }
            }
            0x08 => {
                self.column = self.column.saturating_sub(1);
                self.out.push_back(c);
            }
            _ => {
                let c = if self.o(libc::OLCUC) { c.to_ascii_uppercase() } else { c };
                let continues = self.i(libc::IUTF8) && is_continuation(c);
                if !is_ctl(c) && !continues {
                    self.column += 1;
                }
                self.out.push_back(c);
            }
        }
    }

    /// Echoes a typed byte: a control character as `^X` with `ECHOCTL` (tabs excepted),
    /// anything else as output.
    fn echo(&mut self, c: u8) {
        if self.l(libc::ECHOCTL) && is_ctl(c) && c != b'\t' {
            self.out.push_back(b'^');
            self.out.push_back(c ^ 0x40);
            self.column += 2;
        } else {
            self.output(c);
        }
    }

    /// Visually erases one column.
    fn erase_column(&mut self) {
        self.out.extend(b"\x08 \x08");
        self.column = self.column.saturating_sub(1);
    }

    /// Input: bytes written to the master. Returns how many were taken (fewer when the input
    /// queue is full) and the signals they raised for the foreground process group.
    pub fn receive(&mut self, input: &[u8]) -> (usize, Vec<i32>) {
        let mut signals = Vec::new();
        for (i, &c) in input.iter().enumerate() {
            if !self.input_room() {
                return (i, signals);
            }
            if let Some(sig) = self.receive_byte(c) {
                signals.push(sig);
            }
        }
        (input.len(), signals)
    }

    fn receive_byte(&mut self, mut c: u8) -> Option<i32> {
        if self.i(libc::ISTRIP) {
            c &= 0x7f;
        }
        if self.i(libc::IUCLC) && self.l(libc::IEXTEN) {
            c = c.to_ascii_lowercase();
        }
        if self.lnext {
            self.lnext = false;
            self.store(c);
            return None;
        }
        if self.i(libc::IXON) {
            if self.is(c, libc::VSTOP) {
                self.stopped = true;
                return None;
            }
            if self.is(c, libc::VSTART) {
                self.stopped = false;
                return None;
            }
        }
        if self.l(libc::ISIG) {
            let sig = if self.is(c, libc::VINTR) {
                Some(libc::SIGINT)
            } else if self.is(c, libc::VQUIT) {
                Some(libc::SIGQUIT)
            } else if self.is(c, libc::VSUSP) {
                Some(libc::SIGTSTP)
            } else {
                None
            };
            if let Some(sig) = sig {
                // The input is dropped. (Linux also drops output still on its way to the master,
                // which in practice is almost never any: what the slave wrote stays readable.)
                if !self.l(libc::NOFLSH) {
                    self.flush_input();
                }
                if self.i(libc::IXON) {
                    self.stopped = false;
                }
                if self.l(libc::ECHO) {
                    self.echo(c);
                }
                return Some(sig);
            }
        }
        if self.stopped && self.i(libc::IXON) && self.i(libc::IXANY) {
            self.stopped = false;
        }
        if c == b'\r' {
            if self.i(libc::IGNCR) {
                return None;
            }
            if self.i(libc::ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && self.i(libc::INLCR) {
            c = b'\r';
        }
        if !self.canonical() {
            self.store(c);
            return None;
        }
        let iexten = self.l(libc::IEXTEN);
        if self.is(c, libc::VERASE) || self.is(c, libc::VKILL) || (iexten && self.is(c, libc::VWERASE)) {
            self.erase(c);
        } else if iexten && self.is(c, libc::VLNEXT) {
            self.lnext = true;
            if self.l(libc::ECHO) && self.l(libc::ECHOCTL) {
                // A caret, and the cursor back on it until the next byte overwrites it.
                self.out.extend(b"^\x08");
            }
        } else if iexten && self.l(libc::ECHO) && self.is(c, libc::VREPRINT) {
            self.echo(c);
            self.output(b'\n');
            for c in self.partial.clone() {
                self.echo(c);
            }
        } else if c == b'\n' {
            if self.l(libc::ECHO) || self.l(libc::ECHONL) {
                self.output(b'\n');
            }
            self.partial.push(c);
            self.finish_line();
        } else if self.is(c, libc::VEOF) {
            // Ends the line without being part of it (at a line's start: end of file).
            self.finish_line();
        } else if self.is(c, libc::VEOL) || (iexten && self.is(c, libc::VEOL2)) {
            self.echo_typed(c);
            self.partial.push(c);
            self.finish_line();
        } else {
            self.store(c);
        }
        None
    }

    /// Echoes a byte that goes into the input, noting where a new line starts.
    fn echo_typed(&mut self, c: u8) {
        if self.l(libc::ECHO) {
            if self.partial.is_empty() {
                self.canon_column = self.column;
            }
            self.echo(c);
        }
    }

    /// Adds an ordinary byte to the input, with its echo.
    fn store(&mut self, c: u8) {
        if !self.canonical() {
            if self.l(libc::ECHO) {
                self.echo(c);
            }
            self.raw.push_back(c);
            return;
        }
        if self.partial.len() >= INPUT_MAX - 1 {
            // A full line only takes its end.
            return;
        }
        self.echo_typed(c);
        self.partial.push(c);
    }

    fn finish_line(&mut self) {
        let line = std::mem::take(&mut self.partial);
        self.lines.push_back(line);
    }

    /// `ERASE` (one character), `WERASE` (a word) or `KILL` (the line).
    fn erase(&mut self, c: u8) {
        if self.partial.is_empty() {
            return;
        }
        let erase = self.is(c, libc::VERASE);
        let werase = !erase && self.is(c, libc::VWERASE);
        let kill = !erase && !werase;
        let echo = self.l(libc::ECHO);
        if kill {
            if !echo {
                self.partial.clear();
                return;
            }
            if !self.l(libc::ECHOK) || !self.l(libc::ECHOKE) || !self.l(libc::ECHOE) {
                // Show the kill character (and a new line with ECHOK) instead of erasing.
                self.partial.clear();
                self.echo(c);
                if self.l(libc::ECHOK) {
                    self.output(b'\n');
                }
                return;
            }
        }
        let utf8 = self.i(libc::IUTF8);
        let mut seen_alnums = 0;
        while !self.partial.is_empty() {
            let mut start = self.partial.len() - 1;
            while utf8 && start > 0 && is_continuation(self.partial[start]) {
                start -= 1;
            }
            let ch = self.partial[start];
            if werase {
                if ch.is_ascii_alphanumeric() || ch == b'_' {
                    seen_alnums += 1;
                } else if seen_alnums > 0 {
                    break;
                }
            }
            self.partial.truncate(start);
            if echo {
                if erase && !self.l(libc::ECHOE) {
                    self.echo(c);
                } else if ch == b'\t' {
                    self.erase_tab();
                } else {
                    let ctl = is_ctl(ch);
                    let echoctl = self.l(libc::ECHOCTL);
                    if ctl && echoctl {
                        self.erase_column();
                    }
                    if !ctl || echoctl {
                        self.erase_column();
                    }
                }
            }
            if erase {
                break;
            }
        }
    }

    /// Moves back over a tab just removed from the line: to the column the line's text
    /// before it (since the previous tab, or the line's start) ends at.
    fn erase_tab(&mut self) {
        let utf8 = self.i(libc::IUTF8);
        let echoctl = self.l(libc::ECHOCTL);
        let mut width = 0;
        let mut after_tab = false;
        for &x in self.partial.iter().rev() {
            if x == b'\t' {
                after_tab = true;
                break;
            }
            if is_ctl(x) {
                if echoctl {
                    width += 2;
                }
            } else if !(utf8 && is_continuation(x)) {
                width += 1;
            }
        }
        if !after_tab {
            width += self.canon_column;
        }
        let back = (8 - (width & 7)).min(self.column);
        self.out.extend(std::iter::repeat_n(0x08, back));
        self.column -= back;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(ld: &mut Ldisc) -> Vec<u8> {
        let mut buf = vec![0u8; OUTPUT_MAX];
        let n = ld.take_output(&mut buf);
        buf.truncate(n);
        buf
    }

    fn line(ld: &mut Ldisc) -> Option<Vec<u8>> {
        let mut buf = [0u8; 256];
        ld.read_line(&mut buf).map(|n| buf[..n].to_vec())
    }

    /// Types `input` and returns the echo.
    fn typed(ld: &mut Ldisc, input: &[u8]) -> Vec<u8> {
        assert_eq!(ld.receive(input), (input.len(), vec![]));
        output(ld)
    }

    #[test]
    fn canonical_lines_are_edited_and_echoed() {
        let mut ld = Ldisc::new();
        assert_eq!(typed(&mut ld, b"ab\x7fc\n"), b"ab\x08 \x08c\r\n");
        assert_eq!(line(&mut ld).unwrap(), b"ac\n");
        assert_eq!(line(&mut ld), None, "no line finished");
        // Word erase stops at the word before; kill erases the whole line.
        assert_eq!(typed(&mut ld, b"hello wor\x17"), b"hello wor\x08 \x08\x08 \x08\x08 \x08");
        assert_eq!(typed(&mut ld, b"X\x15"), b"X\x08 \x08\x08 \x08\x08 \x08\x08 \x08\x08 \x08\x08 \x08\x08 \x08");
        assert_eq!(typed(&mut ld, b"yy\r"), b"yy\r\n", "CR becomes NL (ICRNL)");
        assert_eq!(line(&mut ld).unwrap(), b"yy\n");
        // Erasing with nothing typed echoes nothing.
        assert_eq!(typed(&mut ld, b"\x7f\x15"), b"");
    }

    #[test]
    fn eof_ends_a_line_and_alone_reads_as_end_of_file() {
        let mut ld = Ldisc::new();
        assert_eq!(typed(&mut ld, b"abc\x04"), b"abc", "EOF is not echoed");
        assert_eq!(line(&mut ld).unwrap(), b"abc");
        assert_eq!(typed(&mut ld, b"\x04"), b"");
        assert_eq!(line(&mut ld).unwrap(), b"", "an empty line: end of file");
        assert_eq!(line(&mut ld), None);
    }

    #[test]
    fn lines_are_read_one_at_a_time_and_in_pieces() {
        let mut ld = Ldisc::new();
        typed(&mut ld, b"l1\nl2\npq");
        assert_eq!(ld.readable_len(), 6, "finished lines only");
        let mut two = [0u8; 2];
        assert_eq!(ld.read_line(&mut two), Some(2));
        let mut three = [0u8; 3];
        assert_eq!(ld.read_line(&mut three), Some(1), "the rest of the first line only");
        assert_eq!(line(&mut ld).unwrap(), b"l2\n");
        ld.flush_input();
        typed(&mut ld, b"\n");
        assert_eq!(line(&mut ld).unwrap(), b"\n", "the flush dropped the line being edited");
    }

    #[test]
    fn control_characters_echo_with_a_caret_and_erase_as_two_columns() {
        let mut ld = Ldisc::new();
        assert_eq!(typed(&mut ld, b"a\x01\x7f\n"), b"a^A\x08 \x08\x08 \x08\r\n");
        assert_eq!(line(&mut ld).unwrap(), b"a\n");
        // Literal next: the caret is shown, then the byte itself.
        assert_eq!(typed(&mut ld, b"z\x16\x03\n"), b"z^\x08^C\r\n");
        assert_eq!(line(&mut ld).unwrap(), b"z\x03\n");
        // Reprint shows the line again.
        assert_eq!(typed(&mut ld, b"q\x12"), b"q^R\r\nq");
        let mut t = ld.termios();
        t.lflag &= !libc::ECHOCTL;
        ld.set_termios(t);
        assert_eq!(typed(&mut ld, b"\x01\x7f\n"), b"\x01\r\n", "without ECHOCTL a control byte takes no column");
    }

    #[test]
    fn tabs_are_erased_back_to_their_column() {
        let mut ld = Ldisc::new();
        assert_eq!(typed(&mut ld, b"ac\t\x7f"), b"ac\t\x08\x08\x08\x08\x08\x08");
        ld.flush_input();
        assert_eq!(typed(&mut ld, b"\n"), b"\r\n");
        let _ = line(&mut ld);
        assert_eq!(typed(&mut ld, b"x\ty\t\x7f\x7f\x7f"), b"x\ty\t\x08\x08\x08\x08\x08\x08\x08\x08 \x08\x08\x08\x08\x08\x08\x08\x08");
        // A line that starts after output counts from the column the output left.
        let mut ld = Ldisc::new();
        assert_eq!(ld.write(b"abc"), 3);
        assert_eq!(output(&mut ld), b"abc");
        assert_eq!(typed(&mut ld, b"x\t\x7f"), b"x\t\x08\x08\x08\x08");
    }

    #[test]
    fn kill_without_echoke_shows_the_character_and_a_new_line() {
        let mut ld = Ldisc::new();
        let mut t = ld.termios();
        t.lflag &= !libc::ECHOKE;
        ld.set_termios(t);
        assert_eq!(typed(&mut ld, b"abc\x15d\n"), b"abc^U\r\nd\r\n");
        assert_eq!(line(&mut ld).unwrap(), b"d\n");
        t.lflag &= !libc::ECHOE;
        ld.set_termios(t);
        assert_eq!(typed(&mut ld, b"ab\x7f\n"), b"ab^?\r\n", "ERASE without ECHOE echoes the character");
    }

    #[test]
    fn echonl_echoes_only_new_lines() {
        let mut ld = Ldisc::new();
        let mut t = ld.termios();
        t.lflag = (t.lflag & !libc::ECHO) | libc::ECHONL;
        ld.set_termios(t);
        assert_eq!(typed(&mut ld, b"ab\ncd\n"), b"\r\n\r\n");
        t.lflag &= !libc::ECHONL;
        ld.set_termios(t);
        assert_eq!(typed(&mut ld, b"secret\n"), b"");
        assert_eq!(line(&mut ld).unwrap(), b"ab\n");
    }

    #[test]
    fn isig_characters_raise_signals_flush_and_echo() {
        let mut ld = Ldisc::new();
        assert_eq!(ld.write(b"pending"), 7);
        assert_eq!(ld.receive(b"ab\x03"), (3, vec![libc::SIGINT]));
        assert_eq!(output(&mut ld), b"pendingab^C", "output kept, then the echo");
        assert_eq!(ld.receive(b"c\n"), (2, vec![]));
        assert_eq!(line(&mut ld).unwrap(), b"c\n");
        assert_eq!(ld.receive(b"\x1c\x1a"), (2, vec![libc::SIGQUIT, libc::SIGTSTP]));
        let mut t = ld.termios();
        t.lflag |= libc::NOFLSH;
        ld.set_termios(t);
        output(&mut ld);
        assert_eq!(ld.receive(b"k\x03\n"), (3, vec![libc::SIGINT]));
        assert_eq!(line(&mut ld).unwrap(), b"k\n", "NOFLSH keeps the input");
        t.lflag &= !libc::ISIG;
        ld.set_termios(t);
        assert_eq!(ld.receive(b"\x03\n"), (2, vec![]));
        assert_eq!(line(&mut ld).unwrap(), b"\x03\n", "without ISIG ^C is data");
    }

    #[test]
    fn output_processing_maps_newlines() {
        let mut ld = Ldisc::new();
        assert_eq!(ld.write(b"o\n\tx\r\n"), 6);
        assert_eq!(output(&mut ld), b"o\r\n\tx\r\r\n", "ONLCR only");
        let mut t = ld.termios();
        t.oflag |= libc::OCRNL | libc::XTABS;
        ld.set_termios(t);
        ld.write(b"a\tb\rc");
        assert_eq!(output(&mut ld), b"a       b\nc");
        t.oflag &= !libc::OPOST;
        ld.set_termios(t);
        ld.write(b"\n\r\t");
        assert_eq!(output(&mut ld), b"\n\r\t", "no OPOST: unchanged");
    }

    #[test]
    fn raw_mode_passes_bytes_unchanged() {
        let mut ld = Ldisc::new();
        let mut t = ld.termios();
        // cfmakeraw
        t.iflag &= !(libc::IGNBRK | libc::BRKINT | libc::PARMRK | libc::ISTRIP | libc::INLCR | libc::IGNCR | libc::ICRNL | libc::IXON);
        t.oflag &= !libc::OPOST;
        t.lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
        ld.set_termios(t);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(ld.receive(&all), (256, vec![]));
        assert_eq!(output(&mut ld), b"", "no echo");
        let mut buf = [0u8; 300];
        assert_eq!(ld.read_raw(&mut buf), 256);
        assert_eq!(&buf[..256], &all[..]);
        assert_eq!(ld.write(&all), 256);
        assert_eq!(output(&mut ld), all);
    }

    #[test]
    fn non_canonical_echo_shows_new_lines_as_control_characters() {
        let mut ld = Ldisc::new();
        let mut t = ld.termios();
        t.lflag &= !libc::ICANON;
        ld.set_termios(t);
        assert_eq!(typed(&mut ld, b"a\x01\n\x7f"), b"a^A^J^?");
        assert_eq!(ld.raw_len(), 4);
    }

    #[test]
    fn switching_modes_keeps_what_was_typed() {
        let mut ld = Ldisc::new();
        typed(&mut ld, b"cd\nabc");
        let mut t = ld.termios();
        t.lflag &= !libc::ICANON;
        ld.set_termios(t);
        let mut buf = [0u8; 16];
        let n = ld.read_raw(&mut buf);
        assert_eq!(&buf[..n], b"cd\nabc", "leaving canonical mode makes the partial line readable");
        typed(&mut ld, b"xyz");
        t.lflag |= libc::ICANON;
        ld.set_termios(t);
        assert_eq!(typed(&mut ld, b"a\x7f\x7f"), b"a\x08 \x08", "the earlier bytes are a finished line");
        assert_eq!(line(&mut ld).unwrap(), b"xyz");
    }

    #[test]
    fn flow_control_stops_output() {
        let mut ld = Ldisc::new();
        assert_eq!(ld.receive(b"\x13"), (1, vec![]));
        assert!(ld.stopped);
        assert_eq!(ld.write(b"x"), 0, "stopped");
        ld.receive(b"\x11");
        assert_eq!(ld.write(b"x"), 1);
        assert_eq!(ld.readable_len(), 0, "START and STOP are not input");
    }

    #[test]
    fn a_full_queue_stops_taking_input_but_a_long_line_can_end() {
        let mut ld = Ldisc::new();
        let mut t = ld.termios();
        t.lflag &= !(libc::ECHO | libc::ICANON);
        ld.set_termios(t);
        let big = vec![b'x'; INPUT_MAX + 10];
        assert_eq!(ld.receive(&big).0, INPUT_MAX);
        assert!(!ld.input_room());
        let mut ld = Ldisc::new();
        t.lflag |= libc::ICANON;
        ld.set_termios(t);
        assert_eq!(ld.receive(&big).0, big.len(), "a line too long drops bytes rather than waiting");
        assert_eq!(ld.receive(b"\n").0, 1);
        assert_eq!(ld.readable_len(), INPUT_MAX);
    }
}
