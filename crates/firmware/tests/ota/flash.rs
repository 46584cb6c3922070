//! Two OTA slots of NOR flash and a bootloader with rollback, modelled on ESP-IDF's
//! (`CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE`): an image set to boot starts as `New`, its first boot
//! makes it `PendingVerify`, and a boot that finds it still pending marks it `Aborted` and starts
//! the other slot again.

use smartbox_firmware::ota::{ImageState, OtaPartition, RECORD_LEN};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    Empty,
    New,
    PendingVerify,
    Valid,
    Aborted,
}

/// Fails the named operation once, as power loss right before it would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOnce {
    SetBoot,
    StoreRecordAfterMarkValid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerLost;

#[derive(Debug)]
pub struct SimFlash {
    slots: [Vec<u8>; 2],
    pub states: [SlotState; 2],
    pub running: usize,
    pub boot_next: usize,
    record: [u8; RECORD_LEN],
    pub fail_once: Option<FailOnce>,
    marked_valid: bool,
    /// Offsets and lengths of every write, to check alignment.
    pub writes: Vec<(u32, usize)>,
}

/// An image whose first line names its version, as the tests read it back.
pub fn image(version: &str, len: usize) -> Vec<u8> {
    let mut bytes = format!("FW:{version}\n").into_bytes();
    let mut x: u32 = 0x1234_5678 ^ len as u32;
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push(x as u8);
    }
    bytes
}

impl SimFlash {
    /// A board running `version` from slot 0.
    pub fn new(capacity: usize, version: &str) -> Self {
        let mut slot0 = vec![0xff; capacity];
        let running = image(version, 4096);
        slot0[..running.len()].copy_from_slice(&running);
        Self {
            slots: [slot0, vec![0xff; capacity]],
            states: [SlotState::Valid, SlotState::Empty],
            running: 0,
            boot_next: 0,
            record: [0xff; RECORD_LEN],
            fail_once: None,
            marked_valid: false,
            writes: Vec::new(),
        }
    }

    fn update(&self) -> usize {
        1 - self.running
    }

    /// Power cycle: the bootloader picks the slot to start.
    pub fn reboot(&mut self) {
        let slot = self.boot_next;
        match self.states[slot] {
            SlotState::New => {
                self.states[slot] = SlotState::PendingVerify;
                self.running = slot;
            }
            SlotState::PendingVerify => {
                self.states[slot] = SlotState::Aborted;
                self.boot_next = 1 - slot;
                self.running = 1 - slot;
            }
            _ => self.running = slot,
        }
        self.marked_valid = false;
    }

    /// The version line of the running image.
    pub fn running_version(&self) -> String {
        let slot = &self.slots[self.running];
        let end = slot
            .iter()
            .position(|b| *b == b'\n')
            .expect("a version line");
        String::from_utf8(slot[3..end].to_vec()).expect("utf-8")
    }

    pub fn update_slot(&self) -> &[u8] {
        &self.slots[self.update()]
    }

    fn fail(&mut self, what: FailOnce) -> Result<(), PowerLost> {
        if self.fail_once == Some(what) {
            self.fail_once = None;
            return Err(PowerLost);
        }
        Ok(())
    }
}

impl OtaPartition for SimFlash {
    type Error = PowerLost;

    fn capacity(&self) -> u32 {
        self.slots[0].len() as u32
    }

    fn erase(&mut self, len: u32) -> Result<(), PowerLost> {
        assert!(len as usize <= self.slots[0].len());
        let update = self.update();
        self.slots[update].fill(0xff);
        self.states[update] = SlotState::Empty;
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), PowerLost> {
        assert_eq!(offset % 4, 0, "unaligned write at {offset}");
        self.writes.push((offset, bytes.len()));
        let update = self.update();
        let target = &mut self.slots[update][offset as usize..offset as usize + bytes.len()];
        // NOR flash: programming only clears bits.
        for (cell, byte) in target.iter_mut().zip(bytes) {
            *cell &= byte;
        }
        Ok(())
    }

    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), PowerLost> {
        let update = self.update();
        out.copy_from_slice(&self.slots[update][offset as usize..offset as usize + out.len()]);
        Ok(())
    }

    fn set_boot(&mut self) -> Result<(), PowerLost> {
        self.fail(FailOnce::SetBoot)?;
        let update = self.update();
        self.boot_next = update;
        self.states[update] = SlotState::New;
        Ok(())
    }

    fn mark_valid(&mut self) -> Result<(), PowerLost> {
        self.states[self.running] = SlotState::Valid;
        self.marked_valid = true;
        Ok(())
    }

    fn running_state(&mut self) -> Result<ImageState, PowerLost> {
        Ok(match self.states[self.running] {
            SlotState::PendingVerify => ImageState::PendingVerify,
            _ => ImageState::Valid,
        })
    }

    fn update_rolled_back(&mut self) -> Result<bool, PowerLost> {
        Ok(self.states[self.update()] == SlotState::Aborted)
    }

    fn load_record(&mut self, out: &mut [u8; RECORD_LEN]) -> Result<(), PowerLost> {
        *out = self.record;
        Ok(())
    }

    fn store_record(&mut self, record: &[u8; RECORD_LEN]) -> Result<(), PowerLost> {
        if self.marked_valid {
            self.fail(FailOnce::StoreRecordAfterMarkValid)?;
        }
        self.record = *record;
        Ok(())
    }
}
