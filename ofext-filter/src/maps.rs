//! eBPF maps shared by every dataplane worker.
//!
//! SKELETON: the API is the contract; bodies are being written.

use core::ptr::NonNull;

/// Map types (EXTENSION.md §5). Wire and `maps`-section numbers are Linux's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapType {
    /// BPF_MAP_TYPE_HASH (1)
    Hash,
    /// BPF_MAP_TYPE_ARRAY (2)
    Array,
    /// BPF_MAP_TYPE_PERCPU_HASH (5)
    PercpuHash,
    /// BPF_MAP_TYPE_PERCPU_ARRAY (6)
    PercpuArray,
    /// BPF_MAP_TYPE_LRU_HASH (9)
    LruHash,
}

impl MapType {
    /// From the Linux map-type number.
    pub const fn from_linux(n: u32) -> Option<Self> {
        match n {
            1 => Some(Self::Hash),
            2 => Some(Self::Array),
            5 => Some(Self::PercpuHash),
            6 => Some(Self::PercpuArray),
            9 => Some(Self::LruHash),
            _ => None,
        }
    }

    /// The Linux map-type number (used in `map_desc.type` on the wire).
    pub const fn linux(self) -> u32 {
        match self {
            Self::Hash => 1,
            Self::Array => 2,
            Self::PercpuHash => 5,
            Self::PercpuArray => 6,
            Self::LruHash => 9,
        }
    }
}

/// A map definition as found in an object file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapDef {
    /// ELF symbol name (at most 15 bytes go on the wire).
    pub name: String,
    /// Type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// Flags word from the definition.
    pub flags: u32,
}

/// Errors of map operations; helpers return them as negative errno values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// Key absent (ENOENT).
    #[error("key not found")]
    KeyNotFound,
    /// NOEXIST update of a present key (EEXIST).
    #[error("key exists")]
    KeyExists,
    /// max_entries reached (E2BIG).
    #[error("map full")]
    Full,
    /// Bad flags, sizes or index (EINVAL).
    #[error("invalid argument")]
    Invalid,
}

/// A live map.
pub struct Map {
    _def: MapDef,
}

/// Held for the whole of one program run: value pointers handed out under it
/// stay valid until it is dropped. `cpu` selects the per-CPU slot.
pub struct RunGuard {
    _cpu: usize,
}

impl RunGuard {
    /// Enters a run on worker `cpu`.
    pub fn enter(_cpu: usize) -> Self {
        todo!()
    }
}

impl Map {
    /// Creates an empty map for `n_cpus` workers.
    pub fn new(_def: MapDef, _n_cpus: usize) -> Result<Self, MapError> {
        todo!()
    }
    /// The definition.
    pub fn def(&self) -> &MapDef {
        todo!()
    }
    /// Program-side lookup: pointer to `value_size` bytes (8-byte aligned), valid
    /// while `g` lives.
    pub fn lookup(&self, _key: &[u8], _g: &RunGuard) -> Option<NonNull<u8>> {
        todo!()
    }
    /// Program-side update with BPF_ANY (0) / BPF_NOEXIST (1) / BPF_EXIST (2).
    pub fn update(
        &self,
        _key: &[u8],
        _value: &[u8],
        _flags: u64,
        _g: &RunGuard,
    ) -> Result<(), MapError> {
        todo!()
    }
    /// Program-side delete.
    pub fn delete(&self, _key: &[u8], _g: &RunGuard) -> Result<(), MapError> {
        todo!()
    }
}
