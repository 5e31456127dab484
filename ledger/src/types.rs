//! TigerBeetle 0.17's records with their exact little-endian layouts, and safe conversions
//! between records and bytes (zerocopy: a wrong length or alignment is an error, never UB).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// An account (128 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Account {
    pub id: u128,
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    pub reserved: u32,
    pub ledger: u32,
    pub code: u16,
    pub flags: u16,
    pub timestamp: u64,
}

/// A transfer (128 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Transfer {
    pub id: u128,
    pub debit_account_id: u128,
    pub credit_account_id: u128,
    pub amount: u128,
    pub pending_id: u128,
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    /// Seconds; only for pending transfers.
    pub timeout: u32,
    pub ledger: u32,
    pub code: u16,
    pub flags: u16,
    pub timestamp: u64,
}

/// An account's balances after one transfer (128 bytes); kept for accounts with `history`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct AccountBalance {
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
    pub timestamp: u64,
    pub reserved: [u8; 56],
}

impl Default for AccountBalance {
    fn default() -> Self {
        AccountBalance {
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: 0,
            timestamp: 0,
            reserved: [0; 56],
        }
    }
}

/// The argument of get_account_transfers / get_account_balances (128 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct AccountFilter {
    pub account_id: u128,
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    pub code: u16,
    pub reserved: [u8; 58],
    pub timestamp_min: u64,
    pub timestamp_max: u64,
    pub limit: u32,
    pub flags: u32,
}

impl Default for AccountFilter {
    fn default() -> Self {
        AccountFilter {
            account_id: 0,
            user_data_128: 0,
            user_data_64: 0,
            user_data_32: 0,
            code: 0,
            reserved: [0; 58],
            timestamp_min: 0,
            timestamp_max: 0,
            limit: 0,
            flags: 0,
        }
    }
}

/// The argument of query_accounts / query_transfers (64 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct QueryFilter {
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    pub ledger: u32,
    pub code: u16,
    pub reserved: [u8; 6],
    pub timestamp_min: u64,
    pub timestamp_max: u64,
    pub limit: u32,
    pub flags: u32,
}

/// One create_accounts / create_transfers result (16 bytes), one per event, in event order.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct CreateResult {
    /// When the event was validated, or for `exists` the original object's timestamp.
    pub timestamp: u64,
    /// The status number; `0xFFFF_FFFF` = created.
    pub status: u32,
    pub reserved: u32,
}

const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Account>() == 128 && align_of::<Account>() == 16);
    assert!(offset_of!(Account, debits_pending) == 16);
    assert!(offset_of!(Account, debits_posted) == 32);
    assert!(offset_of!(Account, credits_pending) == 48);
    assert!(offset_of!(Account, credits_posted) == 64);
    assert!(offset_of!(Account, user_data_128) == 80);
    assert!(offset_of!(Account, user_data_64) == 96);
    assert!(offset_of!(Account, user_data_32) == 104);
    assert!(offset_of!(Account, reserved) == 108);
    assert!(offset_of!(Account, ledger) == 112);
    assert!(offset_of!(Account, code) == 116);
    assert!(offset_of!(Account, flags) == 118);
    assert!(offset_of!(Account, timestamp) == 120);
    assert!(size_of::<Transfer>() == 128);
    assert!(offset_of!(Transfer, debit_account_id) == 16);
    assert!(offset_of!(Transfer, credit_account_id) == 32);
    assert!(offset_of!(Transfer, amount) == 48);
    assert!(offset_of!(Transfer, pending_id) == 64);
    assert!(offset_of!(Transfer, user_data_128) == 80);
    assert!(offset_of!(Transfer, user_data_64) == 96);
    assert!(offset_of!(Transfer, user_data_32) == 104);
    assert!(offset_of!(Transfer, timeout) == 108);
    assert!(offset_of!(Transfer, ledger) == 112);
    assert!(offset_of!(Transfer, code) == 116);
    assert!(offset_of!(Transfer, flags) == 118);
    assert!(offset_of!(Transfer, timestamp) == 120);
    assert!(size_of::<AccountBalance>() == 128);
    assert!(offset_of!(AccountBalance, timestamp) == 64);
    assert!(offset_of!(AccountBalance, reserved) == 72);
    assert!(size_of::<AccountFilter>() == 128);
    assert!(offset_of!(AccountFilter, user_data_128) == 16);
    assert!(offset_of!(AccountFilter, user_data_64) == 32);
    assert!(offset_of!(AccountFilter, user_data_32) == 40);
    assert!(offset_of!(AccountFilter, code) == 44);
    assert!(offset_of!(AccountFilter, reserved) == 46);
    assert!(offset_of!(AccountFilter, timestamp_min) == 104);
    assert!(offset_of!(AccountFilter, timestamp_max) == 112);
    assert!(offset_of!(AccountFilter, limit) == 120);
    assert!(offset_of!(AccountFilter, flags) == 124);
    assert!(size_of::<QueryFilter>() == 64);
    assert!(offset_of!(QueryFilter, user_data_64) == 16);
    assert!(offset_of!(QueryFilter, user_data_32) == 24);
    assert!(offset_of!(QueryFilter, ledger) == 28);
    assert!(offset_of!(QueryFilter, code) == 32);
    assert!(offset_of!(QueryFilter, reserved) == 34);
    assert!(offset_of!(QueryFilter, timestamp_min) == 40);
    assert!(offset_of!(QueryFilter, timestamp_max) == 48);
    assert!(offset_of!(QueryFilter, limit) == 56);
    assert!(offset_of!(QueryFilter, flags) == 60);
    assert!(size_of::<CreateResult>() == 16);
};

/// Why bytes could not be viewed or decoded as records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The length is not a whole number of records.
    Length { len: usize, record: usize },
    /// The bytes are not aligned for a zero-copy view (use the copying decode).
    Alignment,
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutError::Length { len, record } => {
                write!(
                    f,
                    "{len} bytes is not a whole number of {record}-byte records"
                )
            }
            LayoutError::Alignment => f.write_str("bytes are not aligned for a zero-copy view"),
        }
    }
}

impl std::error::Error for LayoutError {}

/// A fixed-size wire record.
pub trait Record: FromBytes + IntoBytes + Immutable + KnownLayout + Copy + Sized {
    const SIZE: usize = std::mem::size_of::<Self>();

    /// Zero-copy view of `bytes` as records; fails on a partial record or misalignment.
    fn slice_from_bytes(bytes: &[u8]) -> Result<&[Self], LayoutError> {
        if bytes.len() % Self::SIZE != 0 {
            return Err(LayoutError::Length {
                len: bytes.len(),
                record: Self::SIZE,
            });
        }
        <[Self]>::ref_from_bytes(bytes).map_err(|_| LayoutError::Alignment)
    }

    /// Copies `bytes` into records (any alignment); fails on a partial record.
    fn vec_from_bytes(bytes: &[u8]) -> Result<Vec<Self>, LayoutError> {
        if bytes.len() % Self::SIZE != 0 {
            return Err(LayoutError::Length {
                len: bytes.len(),
                record: Self::SIZE,
            });
        }
        Ok(bytes
            .chunks_exact(Self::SIZE)
            .filter_map(|c| Self::read_from_bytes(c).ok())
            .collect())
    }

    /// The record's bytes.
    fn bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Record for Account {}
impl Record for Transfer {}
impl Record for AccountBalance {}
impl Record for AccountFilter {}
impl Record for QueryFilter {}
impl Record for CreateResult {}

/// A u128 id as 16 little-endian bytes (the wire form of lookup arguments).
pub fn ids_from_bytes(bytes: &[u8]) -> Result<Vec<u128>, LayoutError> {
    if bytes.len() % 16 != 0 {
        return Err(LayoutError::Length {
            len: bytes.len(),
            record: 16,
        });
    }
    Ok(bytes
        .chunks_exact(16)
        .map(|c| u128::from_le_bytes(c.try_into().unwrap_or([0; 16])))
        .collect())
}

/// The 16 words a 128-byte record occupies in a table slot.
pub(crate) fn to_words<R: Record>(r: &R) -> [u64; 16] {
    debug_assert_eq!(R::SIZE, 128);
    let mut words = [0u64; 16];
    words.as_mut_bytes().copy_from_slice(r.as_bytes());
    words
}

pub(crate) fn from_words<R: Record + Default>(words: &[u64; 16]) -> R {
    debug_assert_eq!(R::SIZE, 128);
    R::read_from_bytes(words.as_bytes()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip_and_errors() {
        let a = Account {
            id: 7,
            ledger: 1,
            code: 2,
            flags: 3,
            timestamp: 9,
            ..Account::default()
        };
        let bytes = a.as_bytes().to_vec();
        assert_eq!(bytes.len(), 128);
        assert_eq!(&bytes[0..16], &7u128.to_le_bytes());
        assert_eq!(&bytes[112..116], &1u32.to_le_bytes());
        assert_eq!(Account::vec_from_bytes(&bytes).unwrap(), vec![a]);
        assert_eq!(
            Account::vec_from_bytes(&bytes[..127]),
            Err(LayoutError::Length {
                len: 127,
                record: 128
            })
        );
        // A misaligned view is an error, never UB; the copying decode works at any alignment.
        let mut shifted = [0u8; 129];
        shifted[1..].copy_from_slice(&bytes);
        let view = &shifted[1..];
        if (view.as_ptr() as usize) % 16 != 0 {
            assert_eq!(Account::slice_from_bytes(view), Err(LayoutError::Alignment));
        }
        assert_eq!(Account::vec_from_bytes(view).unwrap(), vec![a]);
        assert_eq!(from_words::<Account>(&to_words(&a)), a);
        assert_eq!(
            ids_from_bytes(&[1u8; 16]).unwrap(),
            vec![u128::from_le_bytes([1u8; 16])]
        );
    }
}
