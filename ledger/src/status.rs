//! Result codes of create_accounts and create_transfers: TigerBeetle 0.17's names and numbers.
//! `created` is `0xFFFF_FFFF` in a [`CreateResult`](crate::CreateResult).

/// Defines a `#[repr(u32)]` enum with its snake_case names and lookups.
macro_rules! statuses {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $num:literal => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum $name {
            $($variant = $num,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The snake_case name TigerBeetle uses.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            pub fn from_name(name: &str) -> Option<$name> {
                match name { $($text => Some($name::$variant),)* _ => None }
            }

            pub fn from_u32(n: u32) -> Option<$name> {
                match n { $($num => Some($name::$variant),)* _ => None }
            }

            /// True for `created`.
            pub fn is_ok(self) -> bool {
                self == $name::Created
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

statuses! {
    /// The outcome of one account in create_accounts.
    CreateAccountStatus {
        Created = 0xFFFF_FFFF => "created",
        LinkedEventFailed = 1 => "linked_event_failed",
        LinkedEventChainOpen = 2 => "linked_event_chain_open",
        TimestampMustBeZero = 3 => "timestamp_must_be_zero",
        ReservedField = 4 => "reserved_field",
        ReservedFlag = 5 => "reserved_flag",
        IdMustNotBeZero = 6 => "id_must_not_be_zero",
        IdMustNotBeIntMax = 7 => "id_must_not_be_int_max",
        FlagsAreMutuallyExclusive = 8 => "flags_are_mutually_exclusive",
        DebitsPendingMustBeZero = 9 => "debits_pending_must_be_zero",
        DebitsPostedMustBeZero = 10 => "debits_posted_must_be_zero",
        CreditsPendingMustBeZero = 11 => "credits_pending_must_be_zero",
        CreditsPostedMustBeZero = 12 => "credits_posted_must_be_zero",
        LedgerMustNotBeZero = 13 => "ledger_must_not_be_zero",
        CodeMustNotBeZero = 14 => "code_must_not_be_zero",
        ExistsWithDifferentFlags = 15 => "exists_with_different_flags",
        ExistsWithDifferentUserData128 = 16 => "exists_with_different_user_data_128",
        ExistsWithDifferentUserData64 = 17 => "exists_with_different_user_data_64",
        ExistsWithDifferentUserData32 = 18 => "exists_with_different_user_data_32",
        ExistsWithDifferentLedger = 19 => "exists_with_different_ledger",
        ExistsWithDifferentCode = 20 => "exists_with_different_code",
        Exists = 21 => "exists",
        ImportedEventExpected = 22 => "imported_event_expected",
        ImportedEventNotExpected = 23 => "imported_event_not_expected",
        ImportedEventTimestampOutOfRange = 24 => "imported_event_timestamp_out_of_range",
        ImportedEventTimestampMustNotAdvance = 25 => "imported_event_timestamp_must_not_advance",
        ImportedEventTimestampMustNotRegress = 26 => "imported_event_timestamp_must_not_regress",
    }
}

statuses! {
    /// The outcome of one transfer in create_transfers. (18 is retired and never returned.)
    CreateTransferStatus {
        Created = 0xFFFF_FFFF => "created",
        LinkedEventFailed = 1 => "linked_event_failed",
        LinkedEventChainOpen = 2 => "linked_event_chain_open",
        TimestampMustBeZero = 3 => "timestamp_must_be_zero",
        ReservedFlag = 4 => "reserved_flag",
        IdMustNotBeZero = 5 => "id_must_not_be_zero",
        IdMustNotBeIntMax = 6 => "id_must_not_be_int_max",
        FlagsAreMutuallyExclusive = 7 => "flags_are_mutually_exclusive",
        DebitAccountIdMustNotBeZero = 8 => "debit_account_id_must_not_be_zero",
        DebitAccountIdMustNotBeIntMax = 9 => "debit_account_id_must_not_be_int_max",
        CreditAccountIdMustNotBeZero = 10 => "credit_account_id_must_not_be_zero",
        CreditAccountIdMustNotBeIntMax = 11 => "credit_account_id_must_not_be_int_max",
        AccountsMustBeDifferent = 12 => "accounts_must_be_different",
        PendingIdMustBeZero = 13 => "pending_id_must_be_zero",
        PendingIdMustNotBeZero = 14 => "pending_id_must_not_be_zero",
        PendingIdMustNotBeIntMax = 15 => "pending_id_must_not_be_int_max",
        PendingIdMustBeDifferent = 16 => "pending_id_must_be_different",
        TimeoutReservedForPendingTransfer = 17 => "timeout_reserved_for_pending_transfer",
        LedgerMustNotBeZero = 19 => "ledger_must_not_be_zero",
        CodeMustNotBeZero = 20 => "code_must_not_be_zero",
        DebitAccountNotFound = 21 => "debit_account_not_found",
        CreditAccountNotFound = 22 => "credit_account_not_found",
        AccountsMustHaveTheSameLedger = 23 => "accounts_must_have_the_same_ledger",
        TransferMustHaveTheSameLedgerAsAccounts = 24 => "transfer_must_have_the_same_ledger_as_accounts",
        PendingTransferNotFound = 25 => "pending_transfer_not_found",
        PendingTransferNotPending = 26 => "pending_transfer_not_pending",
        PendingTransferHasDifferentDebitAccountId = 27 => "pending_transfer_has_different_debit_account_id",
        PendingTransferHasDifferentCreditAccountId = 28 => "pending_transfer_has_different_credit_account_id",
        PendingTransferHasDifferentLedger = 29 => "pending_transfer_has_different_ledger",
        PendingTransferHasDifferentCode = 30 => "pending_transfer_has_different_code",
        ExceedsPendingTransferAmount = 31 => "exceeds_pending_transfer_amount",
        PendingTransferHasDifferentAmount = 32 => "pending_transfer_has_different_amount",
        PendingTransferAlreadyPosted = 33 => "pending_transfer_already_posted",
        PendingTransferAlreadyVoided = 34 => "pending_transfer_already_voided",
        PendingTransferExpired = 35 => "pending_transfer_expired",
        ExistsWithDifferentFlags = 36 => "exists_with_different_flags",
        ExistsWithDifferentDebitAccountId = 37 => "exists_with_different_debit_account_id",
        ExistsWithDifferentCreditAccountId = 38 => "exists_with_different_credit_account_id",
        ExistsWithDifferentAmount = 39 => "exists_with_different_amount",
        ExistsWithDifferentPendingId = 40 => "exists_with_different_pending_id",
        ExistsWithDifferentUserData128 = 41 => "exists_with_different_user_data_128",
        ExistsWithDifferentUserData64 = 42 => "exists_with_different_user_data_64",
        ExistsWithDifferentUserData32 = 43 => "exists_with_different_user_data_32",
        ExistsWithDifferentTimeout = 44 => "exists_with_different_timeout",
        ExistsWithDifferentCode = 45 => "exists_with_different_code",
        Exists = 46 => "exists",
        OverflowsDebitsPending = 47 => "overflows_debits_pending",
        OverflowsCreditsPending = 48 => "overflows_credits_pending",
        OverflowsDebitsPosted = 49 => "overflows_debits_posted",
        OverflowsCreditsPosted = 50 => "overflows_credits_posted",
        OverflowsDebits = 51 => "overflows_debits",
        OverflowsCredits = 52 => "overflows_credits",
        OverflowsTimeout = 53 => "overflows_timeout",
        ExceedsCredits = 54 => "exceeds_credits",
        ExceedsDebits = 55 => "exceeds_debits",
        ImportedEventExpected = 56 => "imported_event_expected",
        ImportedEventNotExpected = 57 => "imported_event_not_expected",
        ImportedEventTimestampOutOfRange = 58 => "imported_event_timestamp_out_of_range",
        ImportedEventTimestampMustNotAdvance = 59 => "imported_event_timestamp_must_not_advance",
        ImportedEventTimestampMustNotRegress = 60 => "imported_event_timestamp_must_not_regress",
        ImportedEventTimestampMustPostdateDebitAccount = 61 => "imported_event_timestamp_must_postdate_debit_account",
        ImportedEventTimestampMustPostdateCreditAccount = 62 => "imported_event_timestamp_must_postdate_credit_account",
        ImportedEventTimeoutMustBeZero = 63 => "imported_event_timeout_must_be_zero",
        ClosingTransferMustBePending = 64 => "closing_transfer_must_be_pending",
        DebitAccountAlreadyClosed = 65 => "debit_account_already_closed",
        CreditAccountAlreadyClosed = 66 => "credit_account_already_closed",
        ExistsWithDifferentLedger = 67 => "exists_with_different_ledger",
        IdAlreadyFailed = 68 => "id_already_failed",
    }
}

impl CreateTransferStatus {
    /// Failures that depend on the ledger's state rather than on the event itself: they burn the
    /// transfer's id ("orphaned ids"); any later create with that id gets `id_already_failed`.
    pub fn orphans_id(self) -> bool {
        use CreateTransferStatus::*;
        matches!(
            self,
            DebitAccountNotFound
                | CreditAccountNotFound
                | PendingTransferNotFound
                | ExceedsCredits
                | ExceedsDebits
                | DebitAccountAlreadyClosed
                | CreditAccountAlreadyClosed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for s in CreateAccountStatus::ALL {
            assert_eq!(CreateAccountStatus::from_u32(*s as u32), Some(*s));
            assert_eq!(CreateAccountStatus::from_name(s.name()), Some(*s));
        }
        for s in CreateTransferStatus::ALL {
            assert_eq!(CreateTransferStatus::from_u32(*s as u32), Some(*s));
            assert_eq!(CreateTransferStatus::from_name(s.name()), Some(*s));
        }
        assert_eq!(CreateAccountStatus::ALL.len(), 27);
        assert_eq!(
            CreateTransferStatus::ALL.len(),
            68,
            "1..=68 without the retired 18, plus created"
        );
        assert_eq!(CreateTransferStatus::from_u32(18), None);
        assert_eq!(CreateTransferStatus::IdAlreadyFailed as u32, 68);
        assert_eq!(
            CreateAccountStatus::ImportedEventTimestampMustNotRegress as u32,
            26
        );
    }
}
