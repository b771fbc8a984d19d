//! A demo relying party.
