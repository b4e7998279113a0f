//! The preview window (minifb; X11 is loaded at run time).

use crate::focus::RelPoint;
use anyhow::{anyhow, Result};
use minifb::{Key, KeyRepeat, MouseButton, MouseMode, Window, WindowOptions};

/// What the viewer asked for since the last poll.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    Quit,
    /// Multiply the blur by this.
    Blur(f32),
    FocusAt(RelPoint),
    /// Back to the focus given on the command line.
    FocusReset,
    ToggleDepth,
    ToggleSplit,
    ToggleOverlay,
}

pub struct PreviewWindow {
    win: Window,
    width: usize,
    height: usize,
    mouse_was_down: bool,
}

impl PreviewWindow {
    pub fn open(title: &str, width: usize, height: usize) -> Result<Self> {
        let opts = WindowOptions { resize: false, ..WindowOptions::default() };
        let mut win = Window::new(title, width, height, opts).map_err(|e| anyhow!("cannot open the preview window ({e}); is there a display? (--headless runs without one)"))?;
        // Never sleep in `update`: frames are shown as soon as they are ready.
        win.set_target_fps(0);
        Ok(Self { win, width, height, mouse_was_down: false })
    }

    /// Show a picture (0RGB, the window's size).
    pub fn present(&mut self, buf: &[u32]) -> Result<()> {
        self.win.update_with_buffer(buf, self.width, self.height).map_err(|e| anyhow!("cannot draw the preview window: {e}"))
    }

    /// Handle the window's events without a new picture.
    pub fn pump(&mut self) {
        self.win.update();
    }

    pub fn poll(&mut self) -> Vec<Input> {
        let mut out = Vec::new();
        if !self.win.is_open() {
            out.push(Input::Quit);
            return out;
        }
        for k in self.win.get_keys_pressed(KeyRepeat::Yes) {
            match k {
                Key::Escape | Key::Q => out.push(Input::Quit),
                Key::Up | Key::Equal | Key::NumPadPlus | Key::RightBracket => out.push(Input::Blur(1.25)),
                Key::Down | Key::Minus | Key::NumPadMinus | Key::LeftBracket => out.push(Input::Blur(0.8)),
                Key::D => out.push(Input::ToggleDepth),
                Key::S | Key::B => out.push(Input::ToggleSplit),
                Key::O | Key::H => out.push(Input::ToggleOverlay),
                Key::F | Key::R => out.push(Input::FocusReset),
                _ => {}
            }
        }
        if let Some((_, dy)) = self.win.get_scroll_wheel() {
            if dy != 0.0 {
                out.push(Input::Blur(if dy > 0.0 { 1.1 } else { 1.0 / 1.1 }));
            }
        }
        let down = self.win.get_mouse_down(MouseButton::Left);
        if down && !self.mouse_was_down {
            if let Some((x, y)) = self.win.get_mouse_pos(MouseMode::Discard) {
                let p = RelPoint { x: (x / self.width.max(1) as f32).clamp(0.0, 1.0), y: (y / self.height.max(1) as f32).clamp(0.0, 1.0) };
                out.push(Input::FocusAt(p));
            }
        }
        self.mouse_was_down = down;
        out
    }
}
