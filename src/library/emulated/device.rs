//! One changer path of the emulated library as a SCSI device: it decodes
//! the CDBs a media changer answers (SPC: INQUIRY, TEST UNIT READY,
//! REQUEST SENSE, MODE SENSE; SMC: READ ELEMENT STATUS, MOVE MEDIUM,
//! INITIALIZE ELEMENT STATUS, PREVENT ALLOW MEDIUM REMOVAL) and answers
//! with the data and sense a real library gives, so the same SCSI changer
//! code drives it and a robot, and `mtx` can drive it through an SG_IO
//! bridge.

use std::path::Path;
use std::time::Duration;

use super::faults::Faults;
use super::moves::MoveFailure;
use super::state::State;
use super::{EmulatedLibrary, EmulationError};
use crate::scsi::sense::fixed;
use crate::scsi::smc::{self, Element, ElementType};
use crate::scsi::spc::{self, StandardInquiry};
use crate::scsi::{Completion, Data, ScsiTransport, SenseKey, TransportError, be};

const PREVENT_ALLOW_MEDIUM_REMOVAL: u8 = 0x1e;
const INITIALIZE_ELEMENT_STATUS_WITH_RANGE: u8 = 0x37;

pub struct EmulatedChanger {
    library: EmulatedLibrary,
    /// The path's name in the library (`changer0`).
    name: String,
    /// What operators call this path: its file.
    display: String,
}

/// A command's outcome before it is copied into the initiator's buffer.
enum Answer {
    Data(Vec<u8>),
    Check(Vec<u8>),
}

fn check(key: SenseKey, asc: u8, ascq: u8) -> Answer {
    Answer::Check(fixed(key, asc, ascq))
}

fn illegal(asc: u8, ascq: u8) -> Answer {
    check(SenseKey::IllegalRequest, asc, ascq)
}

impl EmulatedChanger {
    /// Opens the changer path a config names (a path file of a library).
    pub fn open(file: &Path) -> Result<Self, EmulationError> {
        let (library, path) = EmulatedLibrary::resolve_path(file)?;
        Ok(Self {
            library,
            name: path,
            display: file.display().to_string(),
        })
    }

    /// Path `name` of a library, without its path file.
    pub fn new(library: EmulatedLibrary, name: &str) -> Self {
        let display = EmulatedLibrary::path_file(library.root(), name)
            .display()
            .to_string();
        Self {
            library,
            name: name.to_string(),
            display,
        }
    }

    fn answer(&self, cdb: &[u8], timeout: Duration) -> Result<Answer, TransportError> {
        let faults = Faults::new(self.library.root(), &self.name);
        if faults.dead() {
            return Err(TransportError::Offline {
                path: self.display.clone(),
            });
        }
        let Some(&op) = cdb.first() else {
            return Ok(illegal(0x20, 0x00));
        };
        // INQUIRY answers whatever state the unit is in; REQUEST SENSE
        // reports a pending unit attention instead of failing with it.
        if op == spc::INQUIRY {
            return Ok(self.inquiry(cdb));
        }
        if faults.offline() {
            return Ok(check(SenseKey::NotReady, 0x04, 0x12));
        }
        let attention = if faults.take("unit-attention") {
            Some(fixed(SenseKey::UnitAttention, 0x28, 0x00))
        } else if faults.take("reset") {
            Some(fixed(SenseKey::UnitAttention, 0x29, 0x00))
        } else {
            None
        };
        if op == spc::REQUEST_SENSE {
            return Ok(Answer::Data(
                attention.unwrap_or_else(|| fixed(SenseKey::NoSense, 0, 0)),
            ));
        }
        if let Some(sense) = attention {
            return Ok(Answer::Check(sense));
        }
        let state = |f: fn(&Self, &State, &[u8]) -> Answer| {
            self.library
                .with_state(|s| Ok(f(self, s, cdb)))
                .map_err(|e| self.failed(e))
        };
        match op {
            spc::TEST_UNIT_READY | PREVENT_ALLOW_MEDIUM_REMOVAL => Ok(Answer::Data(Vec::new())),
            // Every access re-reads the state and repairs killed moves.
            smc::INITIALIZE_ELEMENT_STATUS | INITIALIZE_ELEMENT_STATUS_WITH_RANGE => {
                state(|_, _, _| Answer::Data(Vec::new()))
            }
            spc::MODE_SENSE_6 | spc::MODE_SENSE_10 => state(Self::mode_sense),
            smc::READ_ELEMENT_STATUS => state(Self::element_status),
            smc::MOVE_MEDIUM => self.move_medium(cdb, timeout),
            _ => Ok(illegal(0x20, 0x00)),
        }
    }

    /// The library failed internally: logged, and a HARDWARE ERROR to the initiator.
    fn failed(&self, e: EmulationError) -> TransportError {
        tracing::error!(path = %self.display, error = %e, "emulated library failure");
        TransportError::Failed {
            path: self.display.clone(),
            reason: e.to_string(),
        }
    }

    fn inquiry(&self, cdb: &[u8]) -> Answer {
        let evpd = cdb.get(1).is_some_and(|b| b & 1 != 0);
        let page = cdb.get(2).copied().unwrap_or(0);
        let identity = self
            .library
            .with_state(|s| Ok((s.vendor.clone(), s.product.clone(), s.serial.clone())));
        let Ok((vendor, product, serial)) = identity else {
            return check(SenseKey::HardwareError, 0x44, 0x00);
        };
        if !evpd {
            if page != 0 {
                return illegal(0x24, 0x00);
            }
            return Answer::Data(
                StandardInquiry {
                    device_type: spc::TYPE_CHANGER,
                    removable: true,
                    vendor,
                    product,
                    revision: "0001".into(),
                }
                .encode()
                .to_vec(),
            );
        }
        match page {
            0x00 => Answer::Data(vec![
                spc::TYPE_CHANGER,
                0x00,
                0,
                3,
                0x00,
                spc::VPD_UNIT_SERIAL,
                spc::VPD_DEVICE_ID,
            ]),
            spc::VPD_UNIT_SERIAL => {
                Answer::Data(spc::encode_unit_serial(spc::TYPE_CHANGER, &serial))
            }
            spc::VPD_DEVICE_ID => {
                // One T10 vendor id designator: vendor(8) product(16) serial.
                let id = format!("{vendor:<8.8}{product:<16.16}{serial}");
                let mut raw = vec![spc::TYPE_CHANGER, spc::VPD_DEVICE_ID, 0, 0];
                raw.extend_from_slice(&[0x02, 0x01, 0, id.len() as u8]);
                raw.extend_from_slice(id.as_bytes());
                let len = (raw.len() - 4) as u16;
                raw[2..4].copy_from_slice(&len.to_be_bytes());
                Answer::Data(raw)
            }
            _ => illegal(0x24, 0x00),
        }
    }

    fn mode_sense(&self, state: &State, cdb: &[u8]) -> Answer {
        let page = cdb.get(2).copied().unwrap_or(0) & 0x3f;
        if page != smc::ELEMENT_ADDRESS_PAGE && page != 0x3f {
            return illegal(0x24, 0x00);
        }
        let body = state.assignment().encode();
        let mut raw = if cdb[0] == spc::MODE_SENSE_6 {
            vec![(3 + body.len()) as u8, 0, 0, 0]
        } else {
            let len = (6 + body.len()) as u16;
            let [hi, lo] = len.to_be_bytes();
            vec![hi, lo, 0, 0, 0, 0, 0, 0]
        };
        raw.extend_from_slice(&body);
        Answer::Data(raw)
    }

    fn element_status(&self, state: &State, cdb: &[u8]) -> Answer {
        if cdb.len() < 12 {
            return illegal(0x24, 0x00);
        }
        let code = cdb[1] & 0x0f;
        let voltag = cdb[1] & 0x10 != 0;
        let start = be(cdb, 2, 2) as u16;
        let count = be(cdb, 4, 2) as usize;
        let dvcid = cdb[6] & 0x01 != 0;
        let kinds: Vec<ElementType> = match code {
            0 => ElementType::ALL.to_vec(),
            code => match ElementType::from_code(code) {
                Some(kind) => vec![kind],
                None => return illegal(0x24, 0x00),
            },
        };
        let all = elements(state);
        if start != 0 && !all.iter().any(|e| e.address == start) {
            return illegal(0x21, 0x01);
        }
        let chosen: Vec<Element> = kinds
            .iter()
            .flat_map(|kind| all.iter().filter(move |e| e.kind == *kind))
            .filter(|e| e.address >= start)
            .take(count)
            .cloned()
            .collect();
        Answer::Data(smc::encode_element_status(&chosen, voltag, dvcid))
    }

    fn move_medium(&self, cdb: &[u8], timeout: Duration) -> Result<Answer, TransportError> {
        if cdb.len() < 12 {
            return Ok(illegal(0x24, 0x00));
        }
        let transport = be(cdb, 2, 2) as u16;
        let (source, destination) = (be(cdb, 4, 2) as u16, be(cdb, 6, 2) as u16);
        if transport != 0 {
            let picker = self
                .library
                .with_state(|s| Ok(s.kind_of(transport)))
                .map_err(|e| self.failed(e))?;
            if picker != Some(ElementType::Transport) {
                return Ok(illegal(0x21, 0x01));
            }
        }
        match self
            .library
            .move_medium(&self.name, source, destination, timeout)
        {
            Ok(()) => Ok(Answer::Data(Vec::new())),
            Err(MoveFailure::Check { key, asc, ascq }) => Ok(check(key, asc, ascq)),
            Err(MoveFailure::Dead) => Err(TransportError::Offline {
                path: self.display.clone(),
            }),
            Err(MoveFailure::Timeout) => Err(TransportError::Timeout {
                path: self.display.clone(),
                seconds: timeout.as_secs(),
            }),
            Err(MoveFailure::Library(e)) => Err(self.failed(e)),
        }
    }
}

/// Every element of the library, in type order (pickers, slots, ports, drives).
fn elements(state: &State) -> Vec<Element> {
    let element = |kind, address, cartridge: &Option<super::state::Cartridge>| Element {
        kind,
        address,
        full: cartridge.is_some(),
        except: false,
        asc: 0,
        ascq: 0,
        source: cartridge.as_ref().and_then(|c| c.source),
        volume_tag: cartridge.as_ref().map(|c| c.barcode.clone()),
        device_id: None,
    };
    let slots = |kind, list: &[super::state::Slot]| -> Vec<Element> {
        list.iter()
            .map(|s| element(kind, s.address, &s.cartridge))
            .collect()
    };
    let mut all = slots(ElementType::Transport, &state.pickers);
    all.extend(slots(ElementType::Storage, &state.slots));
    all.extend(slots(ElementType::ImportExport, &state.ports));
    all.extend(state.drives.iter().map(|d| Element {
        device_id: Some(d.serial.clone()),
        ..element(ElementType::DataTransfer, d.address, &d.cartridge)
    }));
    all
}

impl ScsiTransport for EmulatedChanger {
    fn execute(
        &mut self,
        cdb: &[u8],
        data: Data<'_>,
        timeout: Duration,
    ) -> Result<Completion, TransportError> {
        match self.answer(cdb, timeout)? {
            Answer::Check(sense) => Ok(Completion::check(sense)),
            Answer::Data(bytes) => {
                let transferred = match data {
                    Data::In(buf) => {
                        let n = bytes.len().min(buf.len()).min(allocation_length(cdb));
                        buf[..n].copy_from_slice(&bytes[..n]);
                        n
                    }
                    Data::Out(buf) => buf.len(),
                    Data::None => 0,
                };
                Ok(Completion::good(transferred))
            }
        }
    }

    fn path(&self) -> &str {
        &self.display
    }
}

/// The allocation length field of the data-in commands answered here.
fn allocation_length(cdb: &[u8]) -> usize {
    match cdb.first().copied() {
        Some(spc::INQUIRY) => be(cdb, 3, 2) as usize,
        Some(spc::REQUEST_SENSE | spc::MODE_SENSE_6) => be(cdb, 4, 1) as usize,
        Some(spc::MODE_SENSE_10) => be(cdb, 7, 2) as usize,
        Some(smc::READ_ELEMENT_STATUS) => be(cdb, 7, 3) as usize,
        _ => usize::MAX,
    }
}
