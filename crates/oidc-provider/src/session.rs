//! Single sign-on sessions: lifetimes, and what an authorization request needs given the session.

use citizen_registry::AssuranceLevel;

/// Idle and absolute lifetimes (docs/NEMLOGIN.md section 4: 30 minutes idle, 8 hours absolute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_seconds: i64,
    pub absolute_seconds: i64,
}

/// A session as stored (the browser's secret id is not part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSession {
    pub sid: String,
    pub citizen_id: uuid::Uuid,
    /// When the authentication at the session's level completed (OIDC `auth_time`): the time
    /// the last factor that gave the level was verified; a step-up moves it.
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// The authenticator level reached in this session.
    pub aal: AssuranceLevel,
    pub last_seen_at: i64,
    pub absolute_expires_at: i64,
    pub ended_at: Option<i64>,
}

impl SsoSession {
    pub fn is_live(&self, policy: &SessionPolicy, now: i64) -> bool {
        self.ended_at.is_none()
            && now < self.absolute_expires_at
            && now < self.last_seen_at + policy.idle_seconds
    }

    /// When the session ends if nothing else happens: the earlier of idle and absolute expiry.
    pub fn expires_at(&self, policy: &SessionPolicy) -> i64 {
        self.absolute_expires_at
            .min(self.last_seen_at + policy.idle_seconds)
    }
}

/// What an authorization request needs, given the browser's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The session satisfies the request: issue a code without showing a page.
    Issue,
    /// Show the login page (no session, `prompt=login`, or `max_age` exceeded).
    Login,
    /// The session's level is too low: ask only for the missing factor.
    StepUp,
    /// Answer the client with this error (`prompt=none` could not be honoured).
    Fail(&'static str),
    /// The citizen's identity proofing is below the level: no factor can fix that.
    Unreachable,
}

/// OIDC Core 3.1.2.1 and 3.1.2.3: `prompt`, `max_age`, and NSIS step-up.
pub struct Requirements {
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub max_age: Option<i64>,
    pub level: AssuranceLevel,
}

pub fn next_step(
    requirements: &Requirements,
    session: Option<&SsoSession>,
    ial: Option<AssuranceLevel>,
    policy: &SessionPolicy,
    now: i64,
) -> Next {
    let live = session.filter(|session| session.is_live(policy, now));
    let fresh_enough = |session: &SsoSession| {
        requirements
            .max_age
            .is_none_or(|max_age| now - session.auth_time <= max_age)
    };
    match live {
        Some(session) if !requirements.prompt_login && fresh_enough(session) => {
            let ial = ial.unwrap_or(AssuranceLevel::Low);
            if ial < requirements.level {
                return Next::Unreachable;
            }
            if session.aal >= requirements.level {
                Next::Issue
            } else if requirements.prompt_none {
                Next::Fail("interaction_required")
            } else {
                Next::StepUp
            }
        }
        _ if requirements.prompt_none => Next::Fail("login_required"),
        _ => Next::Login,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: SessionPolicy = SessionPolicy {
        idle_seconds: 1800,
        absolute_seconds: 28800,
    };

    fn session(aal: AssuranceLevel) -> SsoSession {
        SsoSession {
            sid: "sid".into(),
            citizen_id: uuid::Uuid::nil(),
            auth_time: 1000,
            amr: vec!["pwd".into()],
            aal,
            last_seen_at: 1000,
            absolute_expires_at: 1000 + 28800,
            ended_at: None,
        }
    }

    fn needs(level: AssuranceLevel) -> Requirements {
        Requirements {
            prompt_none: false,
            prompt_login: false,
            max_age: None,
            level,
        }
    }

    #[test]
    fn a_live_session_at_the_level_issues_at_once() {
        let next = next_step(
            &needs(AssuranceLevel::Low),
            Some(&session(AssuranceLevel::Low)),
            Some(AssuranceLevel::Substantial),
            &POLICY,
            1100,
        );
        assert_eq!(next, Next::Issue);
    }

    #[test]
    fn a_low_session_steps_up_for_substantial() {
        let next = next_step(
            &needs(AssuranceLevel::Substantial),
            Some(&session(AssuranceLevel::Low)),
            Some(AssuranceLevel::Substantial),
            &POLICY,
            1100,
        );
        assert_eq!(next, Next::StepUp);
    }

    #[test]
    fn prompt_none_without_session_is_login_required() {
        let mut requirements = needs(AssuranceLevel::Low);
        requirements.prompt_none = true;
        assert_eq!(
            next_step(&requirements, None, None, &POLICY, 1100),
            Next::Fail("login_required")
        );
    }

    #[test]
    fn prompt_none_needing_step_up_is_interaction_required() {
        let mut requirements = needs(AssuranceLevel::Substantial);
        requirements.prompt_none = true;
        let next = next_step(
            &requirements,
            Some(&session(AssuranceLevel::Low)),
            Some(AssuranceLevel::Substantial),
            &POLICY,
            1100,
        );
        assert_eq!(next, Next::Fail("interaction_required"));
    }

    #[test]
    fn an_idle_session_is_dead() {
        let next = next_step(
            &needs(AssuranceLevel::Low),
            Some(&session(AssuranceLevel::Low)),
            Some(AssuranceLevel::Low),
            &POLICY,
            1000 + 1800,
        );
        assert_eq!(next, Next::Login);
    }

    #[test]
    fn max_age_exceeded_asks_for_login() {
        let mut requirements = needs(AssuranceLevel::Low);
        requirements.max_age = Some(60);
        let next = next_step(
            &requirements,
            Some(&session(AssuranceLevel::Low)),
            Some(AssuranceLevel::Low),
            &POLICY,
            1061,
        );
        assert_eq!(next, Next::Login);
    }

    #[test]
    fn prompt_login_forces_a_new_login() {
        let mut requirements = needs(AssuranceLevel::Low);
        requirements.prompt_login = true;
        let next = next_step(
            &requirements,
            Some(&session(AssuranceLevel::High)),
            Some(AssuranceLevel::High),
            &POLICY,
            1100,
        );
        assert_eq!(next, Next::Login);
    }

    #[test]
    fn identity_proofing_caps_the_level() {
        // A passkey login (AAL High) by a citizen proofed at Substantial reaches Substantial only.
        let next = next_step(
            &needs(AssuranceLevel::High),
            Some(&session(AssuranceLevel::High)),
            Some(AssuranceLevel::Substantial),
            &POLICY,
            1100,
        );
        assert_eq!(next, Next::Unreachable);
    }
}
