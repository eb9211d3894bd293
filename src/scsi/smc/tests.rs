use super::*;

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

#[test]
fn cdbs_are_laid_out_as_smc_says() {
    // The mhVTL STK L80 vector of the research notes: drives from 1F4h, 4 of them, DVCID.
    assert_eq!(
        read_element_status(ElementType::DataTransfer, 0x1f4, 4, false, true, 0xff_0800).to_vec(),
        hex("b8 04 01 f4 00 04 01 ff 08 00 00 00")
    );
    // What mtx asks: slots with volume tags.
    assert_eq!(
        read_element_status(ElementType::Storage, 0, 0xffff, true, false, 0x40000)[..2],
        [0xb8, 0x12]
    );
    assert_eq!(
        move_medium(0, 1000, 500, false),
        [0xa5, 0, 0, 0, 0x03, 0xe8, 0x01, 0xf4, 0, 0, 0, 0]
    );
}

#[test]
fn the_element_address_page_of_an_stk_l80() {
    let page = hex("1d 12 00 01 00 01 03 e8 00 28 00 0a 00 04 01 f4 00 04 00 00");
    let eaa = ElementAddressAssignment::decode(&page).unwrap();
    assert_eq!(eaa.transport, (1, 1));
    assert_eq!(eaa.storage, (1000, 40));
    assert_eq!(eaa.import_export, (10, 4));
    assert_eq!(eaa.data_transfer, (500, 4));
    assert_eq!(eaa.encode().to_vec(), page);
}

/// mhVTL STK L80: four drives with T10 vendor-id DVCIDs, 50-byte descriptors.
#[test]
fn mhvtl_drive_descriptors_give_serial_numbers() {
    let mut raw = hex("01 f4 00 04 00 00 00 d0 04 00 00 32 00 00 00 c8");
    for (i, serial) in ["XYZZY_B1", "XYZZY_B2", "XYZZY_B3", "XYZZY_B4"]
        .iter()
        .enumerate()
    {
        let mut d = hex("00 00 08 00 00 00 00 00 00 00 00 00 02 01 00 22");
        d[0..2].copy_from_slice(&(0x1f4 + i as u16).to_be_bytes());
        d.extend_from_slice(format!("STK     T10000B         {serial}  ").as_bytes());
        assert_eq!(d.len(), 50);
        raw.extend_from_slice(&d);
    }
    let elements = decode_element_status(&raw);
    assert_eq!(elements.len(), 4);
    assert_eq!(elements[0].address, 0x1f4);
    assert_eq!(elements[0].kind, ElementType::DataTransfer);
    assert_eq!(elements[3].device_id.as_deref(), Some("XYZZY_B4"));
    assert!(elements.iter().all(|e| !e.full && e.volume_tag.is_none()));
}

#[test]
fn encoded_status_decodes_back() {
    let slots: Vec<Element> = (0..3)
        .map(|i| Element {
            kind: ElementType::Storage,
            address: 1000 + i,
            full: i != 1,
            except: false,
            asc: 0,
            ascq: 0,
            source: None,
            volume_tag: (i != 1).then(|| format!("A0000{i}L6")),
            device_id: None,
        })
        .collect();
    assert_eq!(
        decode_element_status(&encode_element_status(&slots, true, false)),
        slots
    );
    let drive = Element {
        kind: ElementType::DataTransfer,
        address: 500,
        full: true,
        except: false,
        asc: 0,
        ascq: 0,
        source: Some(1001),
        volume_tag: Some("A00001L6".into()),
        device_id: Some("DRV0001".into()),
    };
    let raw = encode_element_status(std::slice::from_ref(&drive), true, true);
    assert_eq!(decode_element_status(&raw), [drive]);
}

/// tgt's header byte count leaves out the page headers, and an element
/// page can be shorter than it says: what is there is read, no further.
#[test]
fn quirky_and_truncated_responses_are_read_as_far_as_they_go() {
    let slots: Vec<Element> = (0..2)
        .map(|i| Element {
            kind: ElementType::Storage,
            address: 1000 + i,
            full: true,
            except: false,
            asc: 0,
            ascq: 0,
            source: None,
            volume_tag: Some(format!("B0000{i}")),
            device_id: None,
        })
        .collect();
    let mut raw = encode_element_status(&slots, true, false);
    raw[7] -= 8; // tgt's byte count
    assert_eq!(decode_element_status(&raw), slots);
    // A transfer cut short (tgt's is 8 bytes short; its descriptors carry 4
    // more bytes than these): the last descriptor loses its volume tag's
    // sequence number, not its barcode.
    raw.truncate(raw.len() - 4);
    assert_eq!(decode_element_status(&raw), slots);
    // Cut into the barcode: the element stays, without a tag.
    raw.truncate(raw.len() - 10);
    let cut = decode_element_status(&raw);
    assert_eq!((cut.len(), cut[1].volume_tag.as_ref()), (2, None));
    // A drive whose serial number is cut has none, not a wrong one.
    let drive = drive_with_serial("SERIAL0123");
    let mut raw = encode_element_status(std::slice::from_ref(&drive), true, true);
    raw.truncate(raw.len() - 8);
    assert_eq!(decode_element_status(&raw)[0].device_id, None);
    // A zero descriptor length (pyscsi loops forever on it) ends the walk.
    let mut zero = encode_element_status(&slots, true, false);
    zero[10] = 0;
    zero[11] = 0;
    assert!(decode_element_status(&zero).is_empty());
    assert!(decode_element_status(&[0; 5]).is_empty());
}

/// Fuzzing found it: a T10 vendor-id device identifier whose vendor field
/// holds bytes that are not ASCII panicked the decoder (a string cut
/// inside a replacement character), which would have stopped the
/// controller on one odd drive element.
#[test]
fn a_device_identifier_with_non_ascii_bytes_decodes_without_a_panic() {
    // The fuzzer's input, as found.
    let found: [u8; 75] = [
        0x94, 0x9a, 0x94, 0x94, 0x94, 0x95, 0x94, 0x94, 0x94, 0x25, 0x25, 0x25, 0x94, 0x25, 0x25,
        0xf3, 0x25, 0x25, 0x25, 0x25, 0xff, 0xff, 0xff, 0xff, 0x25, 0x25, 0x0b, 0x0b, 0x0b, 0x41,
        0x0b, 0x0b, 0x0b, 0x94, 0x0b, 0x0b, 0x0b, 0x94, 0x94, 0x94, 0x94, 0x94, 0x94, 0x94, 0x94,
        0x94, 0x08, 0x00, 0x13, 0x94, 0x88, 0xff, 0xff, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
        0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0xff, 0x0b, 0x0b, 0x0b, 0x28, 0xff, 0x25, 0x39, 0x25, 0x25,
    ];
    let _ = decode_element_status(&found);
    // The same shape on purpose: vendor and product not ASCII, the serial
    // after them still read.
    let drive = drive_with_serial("SERIAL0123");
    let mut raw = encode_element_status(std::slice::from_ref(&drive), false, true);
    let id = raw
        .windows(10)
        .position(|w| w == b"SERIAL0123")
        .expect("the serial in the descriptor");
    let len_at = id - 1;
    // Make it a type 1 identifier: 8 + 16 bytes of non-ASCII, then the serial.
    let mut ident = vec![0xe2u8; 24];
    ident.extend_from_slice(b"SERIAL0123");
    raw.splice(id..id + 10, ident);
    raw[len_at] = 34;
    raw[len_at - 2] = (raw[len_at - 2] & 0xf0) | 1;
    // Fix the byte counts the splice grew.
    let grow = 24usize;
    let desc_len = u16::from_be_bytes([raw[10], raw[11]]) as usize + grow;
    raw[10..12].copy_from_slice(&(desc_len as u16).to_be_bytes());
    let page_bytes = u32::from_be_bytes([0, raw[13], raw[14], raw[15]]) as usize + grow;
    raw[13..16].copy_from_slice(&(page_bytes as u32).to_be_bytes()[1..]);
    let report = u32::from_be_bytes([0, raw[5], raw[6], raw[7]]) as usize + grow;
    raw[5..8].copy_from_slice(&(report as u32).to_be_bytes()[1..]);
    let elements = decode_element_status(&raw);
    assert_eq!(elements.len(), 1, "{raw:02x?}");
    assert_eq!(elements[0].device_id.as_deref(), Some("SERIAL0123"));
}

/// An empty drive element that reports a serial number.
fn drive_with_serial(serial: &str) -> Element {
    Element {
        kind: ElementType::DataTransfer,
        address: 500,
        full: false,
        except: false,
        asc: 0,
        ascq: 0,
        source: None,
        volume_tag: None,
        device_id: Some(serial.into()),
    }
}
