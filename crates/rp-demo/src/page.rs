//! The portal's own pages that a login may return to, and the level each needs.
//!
//! `return=` is read against this closed list, so `/login` can never be used to redirect a
//! citizen to another site (an open redirect).

use crate::level::Level;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnPage {
    Home,
    Me,
    Secure,
    PowerOfAttorney,
}

impl ReturnPage {
    pub fn path(self) -> &'static str {
        match self {
            Self::Home => "/",
            Self::Me => "/me",
            Self::Secure => "/secure",
            Self::PowerOfAttorney => "/poa",
        }
    }

    /// The page at `path`, if it is one of ours.
    pub fn parse(path: &str) -> Option<Self> {
        [Self::Home, Self::Me, Self::Secure, Self::PowerOfAttorney]
            .into_iter()
            .find(|page| page.path() == path)
    }

    /// The least level a session needs to see the page.
    pub fn required_level(self) -> Level {
        match self {
            Self::Secure => Level::Substantial,
            Self::Home | Self::Me | Self::PowerOfAttorney => Level::Low,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_paths_are_return_pages() {
        assert_eq!(ReturnPage::parse("/secure"), Some(ReturnPage::Secure));
        assert_eq!(ReturnPage::parse("/"), Some(ReturnPage::Home));
        assert_eq!(ReturnPage::parse("https://evil.example/"), None);
        assert_eq!(ReturnPage::parse("//evil.example"), None);
        assert_eq!(ReturnPage::parse("/logout"), None);
    }

    #[test]
    fn the_secure_page_needs_substantial() {
        assert_eq!(ReturnPage::Secure.required_level(), Level::Substantial);
        assert_eq!(ReturnPage::Me.required_level(), Level::Low);
    }
}
