//! Sets the RPATH of an ELF file in Rust, as `patchelf --force-rpath --set-rpath` does, so
//! relocation needs nothing on PATH.
//!
//! A string that fits in the old one's bytes is written in place. A longer one goes, with a copy
//! of the dynamic string table, into a new `PT_LOAD` segment appended to the file, as patchelf
//! does for shared libraries: nothing already mapped moves, so no address the code holds
//! changes. The program header table moves into that segment too, since it gains an entry, and
//! so does the dynamic section when it has no spare `DT_NULL` slot for a new `DT_RPATH` (lld
//! leaves none, bfd leaves some). The new segment keeps the first `PT_LOAD`'s
//! address-minus-offset, from which kernels before 5.18 compute `AT_PHDR`. The old paths are
//! zeroed, so the build prefix does not stay in the file.
//!
//! Rewriters that re-lay the whole file (arwen, on object's `build::elf`) refuse the files whose
//! `.dynamic` must grow while an immovable section follows it (lld's `.got`): every lld-linked
//! program without an RPATH, Rust ones included.

use object::elf::{
    DynamicTag, Machine, ProgramFlags, ProgramType, DT_NULL, DT_RPATH, DT_RUNPATH, DT_STRSZ,
    DT_STRTAB, PF_R, PF_W, PT_DYNAMIC, PT_LOAD, PT_PHDR, SHF_ALLOC, SHT_DYNAMIC, SHT_STRTAB,
};
use object::read::elf::{Dyn, FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, I32, I64, U32, U64};

/// Why an RPATH could not be set.
#[derive(Debug, thiserror::Error)]
pub enum RpathError {
    #[error("cannot read the ELF file: {0}")]
    Read(#[from] object::read::Error),
    #[error("unexpected ELF layout: {0}")]
    Layout(&'static str),
}

fn layout(message: &'static str) -> RpathError {
    RpathError::Layout(message)
}

/// `data` with every `DT_RUNPATH` turned into a `DT_RPATH` and the RPATH set to `rpath` (one is
/// added when there is none). Files without a dynamic segment are an error.
pub fn set_rpath(data: &[u8], rpath: &str) -> Result<Vec<u8>, RpathError> {
    if rpath.contains('\0') {
        return Err(layout("the RPATH contains a NUL byte"));
    }
    match object::FileKind::parse(data)? {
        object::FileKind::Elf32 => edit::<object::elf::FileHeader32<Endianness>>(data, rpath),
        object::FileKind::Elf64 => edit::<object::elf::FileHeader64<Endianness>>(data, rpath),
        _ => Err(layout("not an ELF file")),
    }
}

/// A program header, whatever the file's class.
#[derive(Debug, Clone, Copy)]
struct Segment {
    p_type: ProgramType,
    p_flags: ProgramFlags,
    offset: u64,
    vaddr: u64,
    paddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

impl Segment {
    fn read<P: ProgramHeader<Endian = Endianness>>(header: &P, e: Endianness) -> Self {
        Segment {
            p_type: header.p_type(e),
            p_flags: header.p_flags(e),
            offset: header.p_offset(e).into(),
            vaddr: header.p_vaddr(e).into(),
            paddr: header.p_paddr(e).into(),
            filesz: header.p_filesz(e).into(),
            memsz: header.p_memsz(e).into(),
            align: header.p_align(e).into(),
        }
    }

    /// Maps `size` bytes at file `offset` to `vaddr`.
    fn place(&mut self, offset: u64, vaddr: u64, size: u64) {
        (self.offset, self.vaddr, self.paddr) = (offset, vaddr, vaddr);
        (self.filesz, self.memsz) = (size, size);
    }
}

/// The writes that differ between 32- and 64-bit files (reading goes through object's traits).
trait Class: FileHeader<Endian = Endianness> {
    fn encode_segment(e: Endianness, segment: &Segment) -> Result<Vec<u8>, RpathError>;
    fn encode_dynamic(e: Endianness, tag: DynamicTag, val: u64) -> Result<Vec<u8>, RpathError>;
    /// Points the section header in `bytes` at `size` bytes at file `offset` and `addr`.
    fn place_section(
        e: Endianness,
        bytes: &mut [u8],
        offset: u64,
        addr: u64,
        size: u64,
    ) -> Result<(), RpathError>;
    /// Points the file header in `bytes` at `count` program headers at `offset`.
    fn place_program_headers(
        e: Endianness,
        bytes: &mut [u8],
        offset: u64,
        count: u16,
    ) -> Result<(), RpathError>;
}

macro_rules! class {
    ($file:ident, $program:ident, $section:ident, $dynamic:ident, $word:ty, $uword:ident, $tag:expr) => {
        impl Class for object::elf::$file<Endianness> {
            fn encode_segment(e: Endianness, s: &Segment) -> Result<Vec<u8>, RpathError> {
                let word = |v: u64| -> Result<_, RpathError> {
                    Ok($uword::new(e, <$word>::try_from(v).map_err(|_| too_far())?))
                };
                let header = object::elf::$program {
                    p_type: U32::new(e, s.p_type),
                    p_flags: U32::new(e, s.p_flags),
                    p_offset: word(s.offset)?,
                    p_vaddr: word(s.vaddr)?,
                    p_paddr: word(s.paddr)?,
                    p_filesz: word(s.filesz)?,
                    p_memsz: word(s.memsz)?,
                    p_align: word(s.align)?,
                };
                Ok(object::bytes_of(&header).to_vec())
            }

            fn encode_dynamic(
                e: Endianness,
                tag: DynamicTag,
                val: u64,
            ) -> Result<Vec<u8>, RpathError> {
                let entry = object::elf::$dynamic {
                    d_tag: $tag(e, tag)?,
                    d_val: $uword::new(e, <$word>::try_from(val).map_err(|_| too_far())?),
                };
                Ok(object::bytes_of(&entry).to_vec())
            }

            fn place_section(
                e: Endianness,
                bytes: &mut [u8],
                offset: u64,
                addr: u64,
                size: u64,
            ) -> Result<(), RpathError> {
                let (header, _) =
                    object::from_bytes_mut::<object::elf::$section<Endianness>>(bytes)
                        .map_err(|()| layout("truncated section header"))?;
                let word = |v: u64| <$word>::try_from(v).map_err(|_| too_far());
                header.sh_offset.set(e, word(offset)?);
                header.sh_addr.set(e, word(addr)?);
                header.sh_size.set(e, word(size)?);
                Ok(())
            }

            fn place_program_headers(
                e: Endianness,
                bytes: &mut [u8],
                offset: u64,
                count: u16,
            ) -> Result<(), RpathError> {
                let (header, _) = object::from_bytes_mut::<Self>(bytes)
                    .map_err(|()| layout("truncated file header"))?;
                header
                    .e_phoff
                    .set(e, <$word>::try_from(offset).map_err(|_| too_far())?);
                header.e_phnum.set(e, count);
                Ok(())
            }
        }
    };
}

fn too_far() -> RpathError {
    layout("the new segment lies beyond what a 32-bit file can address")
}

class!(
    FileHeader32,
    ProgramHeader32,
    SectionHeader32,
    Dyn32,
    u32,
    U32,
    |e, tag| I32::new_i64(e, tag).map_err(|_| layout("dynamic tag out of range"))
);
class!(
    FileHeader64,
    ProgramHeader64,
    SectionHeader64,
    Dyn64,
    u64,
    U64,
    |e, tag| Ok::<_, RpathError>(I64::new(e, tag))
);

/// The page size patchelf assumes for the machine (its `getPageSize`).
fn page_size(machine: Machine) -> u64 {
    use object::elf::*;
    match machine {
        EM_ALPHA | EM_IA_64 | EM_MIPS | EM_PPC | EM_PPC64 | EM_AARCH64 | EM_TILEGX
        | EM_LOONGARCH => 0x10000,
        EM_SPARC | EM_SPARCV9 => 0x2000,
        _ => 0x1000,
    }
}

/// How far past the end of the file a new segment may start: the new segment keeps the load
/// bias, so a `.bss` larger than this would have to be padded out in the file.
const MAX_PADDING: u64 = 1 << 30;

/// The file offset, address and alignment of a segment appended to a file of `file_len`
/// bytes: above every loaded byte, at the offset plus the first `PT_LOAD`'s
/// address-minus-offset, as kernels before 5.18 assume when they compute `AT_PHDR` (for
/// executables, static-pie ones included; libraries get the same layout, as they are rarely
/// padded by it: their symbol tables lie past their `.bss` in the file).
fn new_segment_place(
    segments: &[Segment],
    file_len: u64,
    page: u64,
) -> Result<(u64, u64, u64), RpathError> {
    let loads = || segments.iter().filter(|s| s.p_type == PT_LOAD);
    let first = loads().next().ok_or(layout("no loadable segment"))?;
    let align = first.align.clamp(1, page);
    let mut end_of_memory = 0;
    for segment in loads() {
        let end = segment.vaddr.checked_add(segment.memsz);
        end_of_memory = end_of_memory.max(end.ok_or(layout("segment beyond the address space"))?);
    }
    let lowest_vaddr = end_of_memory
        .checked_next_multiple_of(page)
        .ok_or(layout("segment beyond the address space"))?;
    let bias = first.vaddr.checked_sub(first.offset).ok_or(layout(
        "the first loadable segment lies below its file offset",
    ))?;
    let offset = file_len
        .next_multiple_of(16)
        .max(lowest_vaddr.saturating_sub(bias));
    if offset - file_len > MAX_PADDING {
        return Err(layout(
            "the loaded segments end more than 1 GiB past the end of the file",
        ));
    }
    Ok((offset, offset + bias, align))
}

fn to_usize(value: u64) -> Result<usize, RpathError> {
    usize::try_from(value).map_err(|_| layout("offset beyond the address space"))
}

/// The file offset of `vaddr`, from the `PT_LOAD` segment that holds it in the file.
fn file_offset(segments: &[Segment], vaddr: u64) -> Result<u64, RpathError> {
    segments
        .iter()
        .find(|s| s.p_type == PT_LOAD && vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz)
        .map(|s| vaddr - s.vaddr + s.offset)
        .ok_or(layout("DT_STRTAB lies outside every loaded segment"))
}

/// The dynamic table the loader reads (through `PT_DYNAMIC`): its file offset, its number of
/// slots and its entries up to the first `DT_NULL`.
type DynamicTable = (usize, usize, Vec<(DynamicTag, u64)>);

fn read_dynamic<Elf: Class>(
    data: &[u8],
    e: Endianness,
    segments: &[Segment],
) -> Result<DynamicTable, RpathError> {
    let segment = segments
        .iter()
        .find(|s| s.p_type == PT_DYNAMIC)
        .ok_or(layout("no dynamic segment"))?;
    let slots = to_usize(segment.filesz)? / size_of::<Elf::Dyn>();
    let start = to_usize(segment.offset)?;
    let table: &[Elf::Dyn] = object::slice_from_bytes(&data[start.min(data.len())..], slots)
        .map_err(|()| layout("dynamic segment beyond the end of the file"))?
        .0;
    let entries = table
        .iter()
        .map(|d| (d.d_tag(e), d.d_val(e).into()))
        .take_while(|(tag, _)| *tag != DT_NULL)
        .collect();
    Ok((start, slots, entries))
}

/// `entries` then `DT_NULL`s up to `slots` entries.
fn encode_dynamic<Elf: Class>(
    e: Endianness,
    entries: &[(DynamicTag, u64)],
    slots: usize,
) -> Result<Vec<u8>, RpathError> {
    let mut bytes = Vec::with_capacity(slots * size_of::<Elf::Dyn>());
    for &(tag, val) in entries {
        bytes.extend(Elf::encode_dynamic(e, tag, val)?);
    }
    for _ in entries.len()..slots {
        bytes.extend(Elf::encode_dynamic(e, DT_NULL, 0)?);
    }
    Ok(bytes)
}

fn edit<Elf: Class>(data: &[u8], rpath: &str) -> Result<Vec<u8>, RpathError> {
    let header = Elf::parse(data)?;
    let e = header.endian()?;
    let mut segments: Vec<Segment> = header
        .program_headers(e, data)?
        .iter()
        .map(|p| Segment::read(p, e))
        .collect();
    let (start, slots, mut entries) = read_dynamic::<Elf>(data, e, &segments)?;
    let value_of = |tag| {
        entries
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| *v)
            .ok_or(layout("no DT_STRTAB or DT_STRSZ"))
    };
    let (strtab_addr, strtab_size) = (value_of(DT_STRTAB)?, value_of(DT_STRSZ)?);
    let strtab_offset = to_usize(file_offset(&segments, strtab_addr)?)?;
    let strings = strtab_offset
        .checked_add(to_usize(strtab_size)?)
        .and_then(|end| data.get(strtab_offset..end))
        .ok_or(layout("dynamic string table beyond the end of the file"))?;

    // The old RPATH/RUNPATH strings: (offset in the string table, length without its NUL).
    let mut old: Vec<(usize, usize)> = Vec::new();
    for (tag, val) in &mut entries {
        if *tag == DT_RPATH || *tag == DT_RUNPATH {
            *tag = DT_RPATH;
            let at = to_usize(*val)?;
            let rest = strings
                .get(at..)
                .ok_or(layout("RPATH outside the string table"))?;
            let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            if !old.contains(&(at, len)) {
                old.push((at, len));
            }
        }
    }
    let mut out = data.to_vec();
    let write_dynamic = |out: &mut Vec<u8>, at: usize, entries: &[_], slots| {
        let bytes = encode_dynamic::<Elf>(e, entries, slots)?;
        out[at..at + bytes.len()].copy_from_slice(&bytes);
        Ok::<_, RpathError>(())
    };
    // The previous paths are blanked: no trace of the build prefix stays in the file.
    for &(at, len) in &old {
        out[strtab_offset + at..strtab_offset + at + len].fill(0);
    }
    if let [(at, len)] = old[..] {
        if rpath.len() <= len {
            let place = strtab_offset + at;
            out[place..place + rpath.len()].copy_from_slice(rpath.as_bytes());
            write_dynamic(&mut out, start, &entries, slots)?;
            return Ok(out);
        }
    }

    // The longer string goes at the end of a copy of the string table, in a new segment.
    let mut new_strings = out[strtab_offset..strtab_offset + strings.len()].to_vec();
    new_strings.extend_from_slice(rpath.as_bytes());
    new_strings.push(0);
    for (tag, val) in &mut entries {
        if *tag == DT_RPATH {
            *val = strtab_size;
        }
    }
    if old.is_empty() {
        // First, as patchelf puts it.
        entries.insert(0, (DT_RPATH, strtab_size));
    }
    // A spare slot is needed for the terminating DT_NULL; without one the section moves.
    let move_dynamic = entries.len() + 1 > slots;

    let page = page_size(header.e_machine(e));
    let (new_offset, new_vaddr, align) = new_segment_place(&segments, out.len() as u64, page)?;

    let header_size = (segments.len() + 1) * size_of::<Elf::ProgramHeader>();
    let dynamic_at = (header_size as u64).next_multiple_of(16);
    let dynamic_size = if move_dynamic {
        ((entries.len() + 1) * size_of::<Elf::Dyn>()) as u64
    } else {
        0
    };
    let strings_at = dynamic_at + dynamic_size;
    let size = strings_at + new_strings.len() as u64;
    for (tag, val) in &mut entries {
        if *tag == DT_STRTAB {
            *val = new_vaddr + strings_at;
        } else if *tag == DT_STRSZ {
            *val = new_strings.len() as u64;
        }
    }

    for segment in &mut segments {
        if segment.p_type == PT_PHDR {
            segment.place(new_offset, new_vaddr, header_size as u64);
        } else if segment.p_type == PT_DYNAMIC && move_dynamic {
            segment.place(
                new_offset + dynamic_at,
                new_vaddr + dynamic_at,
                dynamic_size,
            );
        }
    }
    // Writable when it holds the dynamic section: the loader writes DT_DEBUG there.
    let new_load = Segment {
        p_type: PT_LOAD,
        p_flags: if move_dynamic { PF_R | PF_W } else { PF_R },
        offset: new_offset,
        vaddr: new_vaddr,
        paddr: new_vaddr,
        filesz: size,
        memsz: size,
        align,
    };
    let after_last_load = segments
        .iter()
        .rposition(|s| s.p_type == PT_LOAD)
        .map_or(0, |i| i + 1);
    segments.insert(after_last_load, new_load);

    out.resize(to_usize(new_offset + size)?, 0);
    let base = to_usize(new_offset)?;
    let mut headers = Vec::with_capacity(header_size);
    for segment in &segments {
        headers.extend(Elf::encode_segment(e, segment)?);
    }
    out[base..base + header_size].copy_from_slice(&headers);
    let dynamic_place = if move_dynamic {
        base + to_usize(dynamic_at)?
    } else {
        start
    };
    write_dynamic(
        &mut out,
        dynamic_place,
        &entries,
        slots.max(entries.len() + 1),
    )?;
    let strings_place = base + to_usize(strings_at)?;
    out[strings_place..strings_place + new_strings.len()].copy_from_slice(&new_strings);
    let count = u16::try_from(segments.len())
        .ok()
        .filter(|&n| n < 0xffff)
        .ok_or(layout("too many program headers"))?;
    Elf::place_program_headers(e, &mut out, new_offset, count)?;

    // Section headers follow, for the tools that read sections (readelf, strip, debuggers).
    let section_table = to_usize(header.e_shoff(e).into())?;
    let section_size = size_of::<Elf::SectionHeader>();
    for (index, section) in header.section_headers(e, data)?.iter().enumerate() {
        let addr: u64 = section.sh_addr(e).into();
        let place = if section.sh_type(e) == SHT_STRTAB
            && section.sh_flags(e).contains(SHF_ALLOC)
            && addr == strtab_addr
        {
            Some((strings_at, new_strings.len() as u64))
        } else if section.sh_type(e) == SHT_DYNAMIC && move_dynamic {
            Some((dynamic_at, dynamic_size))
        } else {
            None
        };
        if let Some((at, size)) = place {
            let bytes = &mut out[section_table + index * section_size..];
            Elf::place_section(e, bytes, new_offset + at, new_vaddr + at, size)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// A path list longer than any string table entry it replaces, whose first entry does not
    /// exist: the loader must read all of it.
    fn long_rpath(then: &str) -> String {
        format!(
            "/nonexistent/{}:{then}",
            "a-long-directory-name/".repeat(10)
        )
    }

    fn run(command: &mut Command) -> String {
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// RPATH, RUNPATH and NEEDED entries as `readelf -d` prints them; readelf must not warn.
    fn dynamic_paths(file: &Path) -> Vec<String> {
        let out = Command::new("readelf")
            .args(["-dlSW"])
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.trim().is_empty(),
            "readelf on {}: {stderr}",
            file.display()
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| {
                ["(RPATH)", "(RUNPATH)", "(NEEDED)"]
                    .iter()
                    .any(|t| l.contains(t))
            })
            .map(|l| l.split_once(')').unwrap().1.trim().to_string())
            .collect()
    }

    /// The program header table lies in a `PT_LOAD` with the first one's address minus offset
    /// (kernels before 5.18 compute `AT_PHDR` from it; this one would not notice), and
    /// `PT_PHDR`, when there is one, says where.
    fn assert_program_headers_keep_load_bias<Elf: Class>(data: &[u8]) {
        let header = Elf::parse(data).unwrap();
        let e = header.endian().unwrap();
        let segments: Vec<Segment> = header
            .program_headers(e, data)
            .unwrap()
            .iter()
            .map(|p| Segment::read(p, e))
            .collect();
        let table: u64 = header.e_phoff(e).into();
        let bias = |s: &Segment| s.vaddr - s.offset;
        let loads: Vec<&Segment> = segments.iter().filter(|s| s.p_type == PT_LOAD).collect();
        let holder = loads
            .iter()
            .find(|s| (s.offset..s.offset + s.filesz).contains(&table))
            .unwrap();
        assert_eq!(bias(holder), bias(loads[0]));
        if let Some(phdr) = segments.iter().find(|s| s.p_type == PT_PHDR) {
            assert_eq!((phdr.offset, bias(phdr)), (table, bias(loads[0])));
        }
    }

    /// Sets `rpath` on a copy of `file` with krait and on another with patchelf: `readelf -d`
    /// shows the same entries for both; returns krait's copy.
    fn set_both_ways(file: &Path, rpath: &str) -> PathBuf {
        let ours = file.with_extension("krait");
        let theirs = file.with_extension("patchelf");
        let patched = set_rpath(&std::fs::read(file).unwrap(), rpath).unwrap();
        match object::FileKind::parse(&*patched).unwrap() {
            object::FileKind::Elf32 => {
                assert_program_headers_keep_load_bias::<object::elf::FileHeader32<_>>(&patched)
            }
            _ => assert_program_headers_keep_load_bias::<object::elf::FileHeader64<_>>(&patched),
        }
        std::fs::write(&ours, patched).unwrap();
        std::fs::set_permissions(&ours, std::fs::metadata(file).unwrap().permissions()).unwrap();
        std::fs::copy(file, &theirs).unwrap();
        run(Command::new("patchelf")
            .args(["--force-rpath", "--set-rpath", rpath])
            .arg(&theirs));
        let ours_entries = dynamic_paths(&ours);
        assert_eq!(ours_entries, dynamic_paths(&theirs), "{}", file.display());
        assert!(
            ours_entries.contains(&format!("Library rpath: [{rpath}]")),
            "{}: {ours_entries:?}",
            file.display()
        );
        ours
    }

    fn gcc(dir: &Path, args: &[&str]) {
        run(Command::new("gcc").current_dir(dir).args(args));
    }

    /// For each linker (bfd, gold, lld) a library with a dependency found through its own
    /// RPATH, and a PIE and a non-PIE program linked against it with no RPATH: after krait
    /// sets long RPATHs on all three, the program runs and loads both libraries.
    #[test]
    fn rpaths_of_bfd_gold_and_lld_outputs_match_patchelf_and_load_their_libraries() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path();
        std::fs::write(src.join("base.c"), "int base(void) { return 40; }\n").unwrap();
        std::fs::write(
            src.join("answer.c"),
            "int base(void);\nint answer(void) { return base() + 2; }\n",
        )
        .unwrap();
        std::fs::write(
            src.join("main.c"),
            "#include <stdio.h>\nint answer(void);\nint main(void) { printf(\"%d\\n\", answer()); return 0; }\n",
        )
        .unwrap();
        for linker in ["bfd", "gold", "lld"] {
            let root = src.join(linker);
            for dir in ["bin", "lib", "lib/base"] {
                std::fs::create_dir_all(root.join(dir)).unwrap();
            }
            let ld = format!("-fuse-ld={linker}");
            let base = root.join("lib/base/libbase.so");
            gcc(
                src,
                &[
                    &ld,
                    "-shared",
                    "-fPIC",
                    "-o",
                    base.to_str().unwrap(),
                    "base.c",
                ],
            );
            let answer = root.join("lib/libanswer.so.orig");
            let base_dir = format!("-L{}", base.parent().unwrap().display());
            gcc(
                src,
                &[
                    &ld,
                    "-shared",
                    "-fPIC",
                    "-o",
                    answer.to_str().unwrap(),
                    "answer.c",
                    &base_dir,
                    "-lbase",
                ],
            );
            let answer = set_both_ways(&answer, &long_rpath("$ORIGIN/base"));
            std::fs::rename(answer, root.join("lib/libanswer.so")).unwrap();
            for pie in ["-pie", "-no-pie"] {
                let program = root.join(format!("bin/main{pie}"));
                let lib_dir = format!("-L{}", root.join("lib").display());
                gcc(
                    src,
                    &[
                        &ld,
                        pie,
                        "-o",
                        program.to_str().unwrap(),
                        "main.c",
                        &lib_dir,
                        "-lanswer",
                        &base_dir,
                        "-Wl,--allow-shlib-undefined",
                    ],
                );
                let unpatched = Command::new(&program).output().unwrap();
                assert!(
                    !unpatched.status.success(),
                    "{linker} {pie}: runs without an RPATH"
                );
                let ours = set_both_ways(&program, &long_rpath("$ORIGIN/../lib"));
                let output = run(&mut Command::new(&ours));
                assert_eq!(output.trim(), "42", "{linker} {pie}");
            }
        }
        // A Rust program linked by lld (rustc's default linker since Rust 1.90; asked for, so
        // that an older rustc does the same).
        std::fs::write(
            src.join("main.rs"),
            "unsafe extern \"C\" { fn answer() -> i32; }\n\
             fn main() { println!(\"{}\", unsafe { answer() }); }\n",
        )
        .unwrap();
        let program = src.join("lld/bin/main-rs");
        run(Command::new("rustc")
            .current_dir(src)
            .args(["main.rs", "-lanswer", "-Clink-arg=-fuse-ld=lld", "-o"])
            .arg(&program)
            .arg(format!("-L{}", src.join("lld/lib").display()))
            .arg(format!("-L{}", src.join("lld/lib/base").display())));
        let comment = run(Command::new("readelf")
            .args(["-p", ".comment"])
            .arg(&program));
        assert!(comment.contains("LLD"), "{comment}");
        let ours = set_both_ways(&program, &long_rpath("$ORIGIN/../lib"));
        assert_eq!(run(&mut Command::new(&ours)).trim(), "42");
    }

    /// Programs that already have a path: a RUNPATH (gcc's default) becomes an RPATH, written
    /// in place when the new path is not longer, in a new string table when it is; either way
    /// the build prefix they held is gone from the file.
    #[test]
    fn existing_paths_become_rpaths_in_place_or_in_a_new_string_table() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("main.c"), "int main(void) { return 0; }\n").unwrap();
        let prefix = "/build/_h_env_placehold_placehold_placehold/lib";
        for (linker, tags, new) in [
            ("bfd", "--enable-new-dtags", "$ORIGIN/../lib"),
            ("lld", "--enable-new-dtags", "$ORIGIN/../lib"),
            ("bfd", "--disable-new-dtags", &*long_rpath("$ORIGIN/../lib")),
            ("lld", "--enable-new-dtags", &*long_rpath("$ORIGIN/../lib")),
        ] {
            let program = dir.join(format!("main-{linker}{tags}-{}", new.len()));
            gcc(
                dir,
                &[
                    &format!("-fuse-ld={linker}"),
                    "-o",
                    program.to_str().unwrap(),
                    "main.c",
                    &format!("-Wl,{tags},-rpath,{prefix}"),
                ],
            );
            let ours = set_both_ways(&program, new);
            let bytes = std::fs::read(&ours).unwrap();
            let kept = bytes
                .windows(prefix.len())
                .position(|w| w == prefix.as_bytes());
            assert_eq!(kept, None, "{}", program.display());
            run(&mut Command::new(&ours));
            // In place: the file keeps its size.
            let grown = bytes.len() != std::fs::metadata(&program).unwrap().len() as usize;
            assert_eq!(grown, new.len() > prefix.len(), "{}", program.display());
            // Files patched before, by krait or by patchelf, grow again.
            for tool in ["krait", "patchelf"] {
                let earlier = PathBuf::from(format!("{}-after-{tool}", program.display()));
                std::fs::copy(program.with_extension(tool), &earlier).unwrap();
                let again = set_both_ways(&earlier, &format!("{new}:/yet/another/path/entry"));
                run(&mut Command::new(again));
            }
        }
    }

    /// 32-bit libraries (linked without a 32-bit C library, so they are not loaded here).
    #[test]
    fn rpaths_of_32_bit_libraries_match_patchelf() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("f.c"), "int f(void) { return 1; }\n").unwrap();
        gcc(dir, &["-m32", "-fPIC", "-c", "-o", "f.o", "f.c"]);
        for linker in ["bfd", "lld"] {
            let library = dir.join(format!("lib-{linker}"));
            run(Command::new(format!("ld.{linker}"))
                .current_dir(dir)
                .args(["-m", "elf_i386", "-shared", "-o"])
                .arg(&library)
                .arg("f.o"));
            let ours = set_both_ways(&library, &long_rpath("$ORIGIN"));
            let again = dir.join(format!("lib-{linker}-again"));
            std::fs::copy(ours, &again).unwrap();
            set_both_ways(&again, &long_rpath("$ORIGIN/again"));
        }
    }

    #[test]
    fn files_without_a_dynamic_segment_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f.c"), "int f(void) { return 1; }\n").unwrap();
        gcc(tmp.path(), &["-c", "-o", "f.o", "f.c"]);
        let object_file = std::fs::read(tmp.path().join("f.o")).unwrap();
        let error = set_rpath(&object_file, "$ORIGIN").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unexpected ELF layout: no dynamic segment"
        );
        assert!(set_rpath(b"#!/bin/sh\n", "$ORIGIN").is_err());
    }
}
