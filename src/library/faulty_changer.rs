//! A media changer wrapper for tests: every dismount fails as a robot's
//! gripper error would, with the cartridge left in the drive.

use super::{ChangerError, LibraryStatus, MediaChanger};

pub struct FailingDismount {
    inner: Box<dyn MediaChanger>,
}

impl FailingDismount {
    pub fn new(inner: Box<dyn MediaChanger>) -> Self {
        Self { inner }
    }
}

impl MediaChanger for FailingDismount {
    fn mount(&self, vid: &str, drive: &str) -> Result<(), ChangerError> {
        self.inner.mount(vid, drive)
    }

    fn dismount(&self, vid: &str, drive: &str) -> Result<(), ChangerError> {
        tracing::warn!(vid, drive, "injected fault: the dismount fails");
        Err(ChangerError::Injected(format!(
            "the move of {vid} out of {drive} failed"
        )))
    }

    fn status(&self) -> Result<LibraryStatus, ChangerError> {
        self.inner.status()
    }
}
