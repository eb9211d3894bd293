//! Refusals: what a server answers instead of doing what was asked, as a
//! code programs can act on plus one sentence for a person
//! (`proto/errors.proto`). One type on both sides of the admin and stager
//! channels.

use crate::proto::errors::Error as WireError;
pub use crate::proto::errors::ErrorCode;
use crate::scheduler::SchedulerError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    /// What it is about ("cartridge", "drive"...), when a program acts on it.
    pub subject: String,
}

/// The subject of a refusal about a cartridge the library does not hold.
pub const SUBJECT_CARTRIDGE: &str = "cartridge";

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            subject: String::new(),
        }
    }

    /// The same refusal, saying what it is about.
    pub fn about(mut self, subject: &str) -> Self {
        self.subject = subject.to_string();
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::FailedPrecondition, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// The code's name as operators read it ("NOT_FOUND").
    pub fn code_name(&self) -> &'static str {
        self.code.as_str_name()
    }
}

impl From<Refusal> for WireError {
    fn from(r: Refusal) -> Self {
        WireError {
            code: r.code as i32,
            message: r.message,
            subject: r.subject,
        }
    }
}

impl From<WireError> for Refusal {
    fn from(e: WireError) -> Self {
        Refusal {
            code: ErrorCode::try_from(e.code).unwrap_or(ErrorCode::Unspecified),
            message: e.message,
            subject: e.subject,
        }
    }
}

impl From<SchedulerError> for Refusal {
    fn from(e: SchedulerError) -> Self {
        let code = match &e {
            SchedulerError::UnknownFile(_)
            | SchedulerError::UnknownTape(_)
            | SchedulerError::UnknownPool(_)
            | SchedulerError::UnknownMount(_)
            | SchedulerError::UnknownStage(_) => ErrorCode::NotFound,
            SchedulerError::NotOnTape { .. }
            | SchedulerError::TooLarge { .. }
            | SchedulerError::EmptyPool(_)
            | SchedulerError::TapeBusy(_)
            | SchedulerError::StaleMount { .. } => ErrorCode::FailedPrecondition,
            SchedulerError::Invalid(_) => ErrorCode::InvalidArgument,
            SchedulerError::Sqlite(_)
            | SchedulerError::Postgres(_)
            | SchedulerError::Unavailable(_)
            | SchedulerError::SchemaTooNew { .. }
            | SchedulerError::PasswordFile { .. }
            | SchedulerError::CreateDir { .. }
            | SchedulerError::UnsupportedUrl(_) => ErrorCode::Unavailable,
        };
        Refusal::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_survives_the_wire_and_an_unknown_code_is_unspecified() {
        let r = Refusal::not_found("no file with id 7");
        let wire: WireError = r.clone().into();
        assert_eq!(Refusal::from(wire), r);
        let future = WireError {
            code: 999,
            message: "new".into(),
            subject: String::new(),
        };
        assert_eq!(Refusal::from(future).code, ErrorCode::Unspecified);
        assert_eq!(r.code_name(), "NOT_FOUND");
    }

    #[test]
    fn scheduler_errors_get_the_code_a_client_acts_on() {
        assert_eq!(
            Refusal::from(SchedulerError::UnknownFile(1)).code,
            ErrorCode::NotFound
        );
        assert_eq!(
            Refusal::from(SchedulerError::EmptyPool("p".into())).code,
            ErrorCode::FailedPrecondition
        );
        assert_eq!(
            Refusal::from(SchedulerError::Unavailable("down".into())).code,
            ErrorCode::Unavailable
        );
    }
}
