//! NumPy's `.npz` files (a zip archive of `.npy` arrays, stored uncompressed), written
//! atomically: what `numpy.load` reads, and with it d3rlpy, Minari and the rest of the Python
//! side. Only what segue exports: little-endian `f32`, `i64` and `bool` arrays, C order.

use std::io;
use std::path::Path;

/// One array of an archive: its values and shape.
pub enum Array<'a> {
    F32(&'a [f32], Vec<usize>),
    I64(&'a [i64], Vec<usize>),
    Bool(&'a [bool], Vec<usize>),
}

impl Array<'_> {
    fn descr(&self) -> &'static str {
        match self {
            Array::F32(..) => "<f4",
            Array::I64(..) => "<i8",
            Array::Bool(..) => "|b1",
        }
    }

    fn shape(&self) -> &[usize] {
        match self {
            Array::F32(_, s) | Array::I64(_, s) | Array::Bool(_, s) => s,
        }
    }

    fn len(&self) -> usize {
        match self {
            Array::F32(v, _) => v.len(),
            Array::I64(v, _) => v.len(),
            Array::Bool(v, _) => v.len(),
        }
    }

    /// The `.npy` file: magic, version 1.0, the header dict padded to 64 bytes, the data.
    fn npy(&self) -> Vec<u8> {
        let shape = match self.shape() {
            [n] => format!("({n},)"),
            s => format!(
                "({})",
                s.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut header = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            self.descr()
        );
        // Magic (6) + version (2) + header length (2) + header + '\n', to a multiple of 64.
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        match self {
            Array::F32(v, _) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Array::I64(v, _) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Array::Bool(v, _) => out.extend(v.iter().map(|&b| b as u8)),
        }
        out
    }
}

/// The zip archive of `arrays` (each `name.npy`, stored), as bytes. Panics when an array's
/// values do not fill its shape.
pub fn archive(arrays: &[(&str, Array)]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, a) in arrays {
        assert_eq!(
            a.len(),
            a.shape().iter().product::<usize>(),
            "{name}: values and shape"
        );
        let data = a.npy();
        let file = format!("{name}.npy");
        let crc = crc32fast::hash(&data);
        let offset = out.len() as u32;
        // Local file header: version 2.0, no flags, stored, no time.
        let fixed = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(&20u16.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
            buf.extend_from_slice(&0u32.to_le_bytes());
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(file.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        fixed(&mut out);
        out.extend_from_slice(file.as_bytes());
        out.extend_from_slice(&data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        fixed(&mut central);
        // Comment length, disk, internal attributes (2 bytes each), external attributes (4),
        // then the local header's offset.
        central.extend_from_slice(&[0; 6]);
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(file.as_bytes());
    }
    let (dir_at, dir_len) = (out.len() as u32, central.len() as u32);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(arrays.len() as u16).to_le_bytes());
    out.extend_from_slice(&(arrays.len() as u16).to_le_bytes());
    out.extend_from_slice(&dir_len.to_le_bytes());
    out.extend_from_slice(&dir_at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Writes [`archive`] of `arrays` to `path` atomically. The archive has no zip64 records: it
/// must stay under 4 GiB.
pub fn write(path: &Path, arrays: &[(&str, Array)]) -> io::Result<()> {
    let bytes = archive(arrays);
    if bytes.len() > u32::MAX as usize {
        return Err(io::Error::other("the archive would exceed 4 GiB"));
    }
    crate::output::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
    }

    #[test]
    fn an_archive_holds_npy_files_a_zip_reader_finds() {
        let x = [1.5f32, -2.0, 0.25, 4.0, 5.0, 6.0];
        let t = [3i64, 7];
        let b = archive(&[
            ("x", Array::F32(&x, vec![2, 3])),
            ("t", Array::I64(&t, vec![2])),
        ]);
        // The end record (22 bytes) points at the central directory, whose first entry points
        // at the first local header, whose name and data follow.
        let end = b.len() - 22;
        assert_eq!(u32_at(&b, end), 0x0605_4b50);
        let dir = u32_at(&b, end + 16) as usize;
        assert_eq!(u32_at(&b, dir), 0x0201_4b50);
        // The central entry is 46 bytes before its name; its offset field is at 42.
        assert_eq!(u32_at(&b, dir + 42), 0);
        assert_eq!(&b[dir + 46..dir + 51], b"x.npy");
        let second = dir + 46 + 5;
        assert_eq!(u32_at(&b, second), 0x0201_4b50);
        assert_eq!(&b[second + 46..second + 51], b"t.npy");
        // The local header (30 bytes, then the name) and the .npy inside it.
        assert_eq!(u32_at(&b, 0), 0x0403_4b50);
        let npy = &b[35..];
        assert_eq!(&npy[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&npy[10..10 + header_len]).unwrap();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(header.ends_with('\n'));
        let data = &npy[10 + header_len..10 + header_len + 24];
        assert_eq!(f32::from_le_bytes(data[4..8].try_into().unwrap()), -2.0);
        // Sizes and checksum of the first entry.
        assert_eq!(u32_at(&b, 18) as usize, 10 + header_len + 24);
        assert_eq!(
            u32_at(&b, 14),
            crc32fast::hash(&npy[..10 + header_len + 24])
        );
    }
}
