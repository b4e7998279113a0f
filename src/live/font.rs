//! A tiny 5×7 bitmap font for the preview's overlay (upper case, digits, a little punctuation),
//! drawn into a 0RGB `u32` framebuffer.

/// Glyph rows, top to bottom; bit 4 is the leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110],
        '1' => [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        '2' => [0b01110, 0b10001, 0b00001, 0b00110, 0b01000, 0b10000, 0b11111],
        '3' => [0b11110, 0b00001, 0b00001, 0b01110, 0b00001, 0b00001, 0b11110],
        '4' => [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010],
        '5' => [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110],
        '6' => [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110],
        '7' => [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000],
        '8' => [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110],
        '9' => [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100],
        'A' => [0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001],
        'B' => [0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110],
        'C' => [0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110],
        'D' => [0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100],
        'E' => [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111],
        'F' => [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000],
        'G' => [0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111],
        'H' => [0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001],
        'I' => [0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        'J' => [0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100],
        'K' => [0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001],
        'L' => [0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111],
        'M' => [0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001],
        'N' => [0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001],
        'O' => [0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110],
        'P' => [0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000],
        'Q' => [0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101],
        'R' => [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001],
        'S' => [0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110],
        'T' => [0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100],
        'U' => [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110],
        'V' => [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100],
        'W' => [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010],
        'X' => [0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001],
        'Y' => [0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100, 0b00100],
        'Z' => [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111],
        '.' => [0, 0, 0, 0, 0, 0b01100, 0b01100],
        ',' => [0, 0, 0, 0, 0b01100, 0b00100, 0b01000],
        ':' => [0, 0b01100, 0b01100, 0, 0b01100, 0b01100, 0],
        '-' => [0, 0, 0, 0b11111, 0, 0, 0],
        '+' => [0, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0],
        '=' => [0, 0, 0b11111, 0, 0b11111, 0, 0],
        '/' => [0b00001, 0b00010, 0b00010, 0b00100, 0b01000, 0b01000, 0b10000],
        '%' => [0b11001, 0b11010, 0b00010, 0b00100, 0b01000, 0b01011, 0b10011],
        '(' => [0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010],
        ')' => [0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000],
        '|' => [0b00100; 7],
        '_' => [0, 0, 0, 0, 0, 0, 0b11111],
        ' ' => [0; 7],
        _ => [0b11111, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11111],
    }
}

pub const GLYPH_W: usize = 5;
pub const GLYPH_H: usize = 7;

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: usize) -> usize {
    text.chars().count() * (GLYPH_W + 1) * scale
}

/// Draw lines of text at (x, y) on a darkened box so they read on any picture.
pub fn draw_panel(buf: &mut [u32], width: usize, height: usize, x: usize, y: usize, lines: &[String], scale: usize) {
    let line_h = (GLYPH_H + 3) * scale;
    let w = lines.iter().map(|l| text_width(l, scale)).max().unwrap_or(0) + 2 * scale;
    let h = lines.len() * line_h + scale;
    for yy in y..(y + h).min(height) {
        for px in &mut buf[yy * width + x.min(width)..yy * width + (x + w).min(width)] {
            // Halve every channel: a translucent black box.
            *px = (*px >> 1) & 0x007f_7f7f;
        }
    }
    for (i, line) in lines.iter().enumerate() {
        draw_text(buf, width, height, x + scale, y + scale + i * line_h, line, scale, 0x00ff_ffff);
    }
}

/// Draw one line of text; pixels outside the buffer are skipped.
#[allow(clippy::too_many_arguments)]
pub fn draw_text(buf: &mut [u32], width: usize, height: usize, x: usize, y: usize, text: &str, scale: usize, color: u32) {
    for (i, c) in text.chars().enumerate() {
        let gx = x + i * (GLYPH_W + 1) * scale;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits & (1 << (GLYPH_W - 1 - col)) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (gx + col * scale + dx, y + row * scale + dy);
                        if px < width && py < height {
                            buf[py * width + px] = color;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lands_where_asked_and_nowhere_else() {
        let (w, h) = (40, 12);
        let mut buf = vec![0u32; w * h];
        draw_text(&mut buf, w, h, 2, 1, "1", 1, 0xffffff);
        // '1' has its stem in the middle column (x = 2 + 2) on every row but the last.
        for row in 0..6 {
            assert_eq!(buf[(1 + row) * w + 4], 0xffffff, "row {row}");
        }
        assert!(buf[..w].iter().all(|&p| p == 0), "nothing above the glyph");
        assert!(buf.iter().enumerate().all(|(i, &p)| p == 0 || (i % w >= 2 && i % w < 7)));
    }

    #[test]
    fn every_overlay_character_has_its_own_glyph() {
        let unknown = glyph('\u{1}');
        for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.,:-+=/%()|_".chars() {
            assert_ne!(glyph(c), unknown, "{c}");
        }
        let all: Vec<[u8; 7]> = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars().map(glyph).collect();
        for i in 0..all.len() {
            for j in 0..i {
                assert_ne!(all[i], all[j], "two characters share a glyph");
            }
        }
    }

    #[test]
    fn panel_clips_at_the_edges() {
        let (w, h) = (20, 10);
        let mut buf = vec![0x00ff_ffffu32; w * h];
        draw_panel(&mut buf, w, h, 15, 5, &["LONG TEXT".into()], 2);
        assert_eq!(buf[0], 0x00ff_ffff);
    }
}
