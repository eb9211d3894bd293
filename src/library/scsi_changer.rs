//! A SCSI media changer (SMC) over any `ScsiTransport`: identify the
//! library, read its element address assignment and element status, move
//! cartridges. One `ScsiChanger` is one changer path; the controller runs
//! one per path, each on its own thread because SCSI calls block.

use std::path::Path;
use std::time::Duration;

use super::emulated::{EmulatedChanger, PATH_MAGIC};
use super::inventory::Inventory;
use crate::scsi::iscsi::IscsiTransport;
use crate::scsi::sg::SgTransport;
use crate::scsi::smc::{self, ElementAddressAssignment, ElementType};
use crate::scsi::spc::{self, StandardInquiry};
use crate::scsi::{Data, ScsiError, ScsiTransport, SenseKey, TransportError};

/// How long commands other than MOVE MEDIUM may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// Elements asked for per READ ELEMENT STATUS (a big library is read in chunks).
const CHUNK: u16 = 256;
/// Room for one descriptor: 12 fixed bytes, two volume tags, an identifier.
const MAX_DESCRIPTOR: u32 = 12 + 36 + 36 + 4 + 64;

/// How a changer path is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// An emulated library's path file, in process.
    Emulated,
    /// SCSI: an iSCSI URL, else SG_IO on the device.
    Scsi,
}

/// Opens a changer path.
pub fn open_transport(
    path: &str,
    kind: PathKind,
) -> Result<Box<dyn ScsiTransport>, TransportError> {
    match kind {
        PathKind::Emulated => EmulatedChanger::open(Path::new(path))
            .map(|t| Box::new(t) as Box<dyn ScsiTransport>)
            .map_err(|e| TransportError::Unavailable(e.to_string())),
        PathKind::Scsi if path.starts_with("iscsi://") => {
            Ok(Box::new(IscsiTransport::connect(path)?))
        }
        PathKind::Scsi => Ok(Box::new(SgTransport::open(path)?)),
    }
}

/// Whether a path is a regular file marking an emulated changer path.
pub fn is_emulated_path(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; PATH_MAGIC.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == PATH_MAGIC.as_bytes())
}

/// Who answers on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub vendor: String,
    pub product: String,
    /// VPD page 80h, when the device has it.
    pub serial: Option<String>,
}

pub struct ScsiChanger {
    transport: Box<dyn ScsiTransport>,
}

impl ScsiChanger {
    pub fn new(transport: Box<dyn ScsiTransport>) -> Self {
        Self { transport }
    }

    pub fn open(path: &str, kind: PathKind) -> Result<Self, ScsiError> {
        Ok(Self::new(open_transport(path, kind)?))
    }

    pub fn path(&self) -> &str {
        self.transport.path()
    }

    fn data_in(&mut self, cdb: &[u8], alloc: usize) -> Result<Vec<u8>, ScsiError> {
        let mut buf = vec![0u8; alloc];
        let n = crate::scsi::run(
            self.transport.as_mut(),
            cdb,
            Data::In(&mut buf),
            COMMAND_TIMEOUT,
        )?;
        buf.truncate(n);
        Ok(buf)
    }

    /// INQUIRY, and the unit serial number if the device has one. Fails
    /// unless the device is a media changer.
    pub fn identify(&mut self) -> Result<Identity, ScsiError> {
        let raw = self.data_in(&spc::inquiry(None, 96), 96)?;
        let inquiry =
            StandardInquiry::decode(&raw).ok_or_else(|| self.bad("short INQUIRY data"))?;
        if inquiry.device_type != spc::TYPE_CHANGER {
            return Err(self.bad(&format!(
                "{} {} is device type {:#04x}, not a media changer",
                inquiry.vendor, inquiry.product, inquiry.device_type
            )));
        }
        let serial = self
            .data_in(&spc::inquiry(Some(spc::VPD_UNIT_SERIAL), 255), 255)
            .ok()
            .and_then(|raw| spc::unit_serial(&raw))
            .filter(|s| !s.is_empty());
        Ok(Identity {
            vendor: inquiry.vendor,
            product: inquiry.product,
            serial,
        })
    }

    fn bad(&self, what: &str) -> ScsiError {
        ScsiError::Response {
            path: self.path().to_string(),
            what: what.to_string(),
        }
    }

    pub fn test_unit_ready(&mut self) -> Result<(), ScsiError> {
        crate::scsi::run(
            self.transport.as_mut(),
            &spc::test_unit_ready(),
            Data::None,
            COMMAND_TIMEOUT,
        )
        .map(drop)
    }

    /// The element address assignment page, by MODE SENSE(6) and, if the
    /// device refuses it, MODE SENSE(10).
    pub fn element_map(&mut self) -> Result<ElementAddressAssignment, ScsiError> {
        let six = self.data_in(
            &spc::mode_sense_6(smc::ELEMENT_ADDRESS_PAGE, 255, true),
            255,
        );
        let page = match six {
            Ok(raw) => spc::mode_page_6(&raw).and_then(ElementAddressAssignment::decode),
            Err(e) if e.sense().is_some_and(|s| s.key == SenseKey::IllegalRequest) => {
                let raw = self.data_in(
                    &spc::mode_sense_10(smc::ELEMENT_ADDRESS_PAGE, 512, true),
                    512,
                )?;
                spc::mode_page_10(&raw).and_then(ElementAddressAssignment::decode)
            }
            Err(e) => return Err(e),
        };
        page.ok_or_else(|| self.bad("no element address assignment page in MODE SENSE data"))
    }

    /// Every element's status: per element type (as mtx asks; some
    /// libraries mangle "all types"), in chunks, with volume tags, and with
    /// device identifiers for drives.
    pub fn inventory(&mut self) -> Result<Inventory, ScsiError> {
        let map = self.element_map()?;
        let mut elements = Vec::new();
        for kind in ElementType::ALL {
            let (first, count) = map.range(kind);
            let end = u32::from(first) + u32::from(count);
            let mut next = u32::from(first);
            while next < end {
                let ask = (end - next).min(u32::from(CHUNK)) as u16;
                let alloc = 8 + 8 + u32::from(ask) * MAX_DESCRIPTOR;
                let dvcid = kind == ElementType::DataTransfer;
                let cdb = smc::read_element_status(kind, next as u16, ask, true, dvcid, alloc);
                let raw = self.data_in(&cdb, alloc as usize)?;
                let got: Vec<_> = smc::decode_element_status(&raw)
                    .into_iter()
                    .filter(|e| e.kind == kind && u32::from(e.address) >= next)
                    .collect();
                let Some(last) = got.last().map(|e| u32::from(e.address)) else {
                    // Nothing more of this type: stop rather than ask forever.
                    break;
                };
                elements.extend(got);
                next = last + 1;
            }
        }
        Ok(Inventory { map, elements })
    }

    pub fn move_medium(
        &mut self,
        source: u16,
        destination: u16,
        timeout: Duration,
    ) -> Result<(), ScsiError> {
        crate::scsi::run(
            self.transport.as_mut(),
            &smc::move_medium(0, source, destination, false),
            Data::None,
            timeout,
        )
        .map(drop)
    }

    /// INITIALIZE ELEMENT STATUS: the robot re-scans (after a door was opened).
    pub fn initialize_element_status(&mut self) -> Result<(), ScsiError> {
        crate::scsi::run(
            self.transport.as_mut(),
            &smc::initialize_element_status(),
            Data::None,
            COMMAND_TIMEOUT,
        )
        .map(drop)
    }
}
