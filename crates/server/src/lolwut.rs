//! LOLWUT: Redis 7.0.15's version banner, and the computer art of its VERSION 5 (Georg Nees's
//! "Schotter" drawn in Braille characters) and VERSION 6 (a skyline in ANSI colours), read from
//! `lolwut.c`, `lolwut5.c` and `lolwut6.c` as the specification.
//!
//! Owns: the canvas, the two drawings and their text rendering. Never: reads or writes data, or
//! draws more than Redis's limits allow (1000 columns, 200 squares a side, 1000 rows), so the
//! command stays cheap whatever the arguments.
//!
//! The art is random as in Redis (which uses `rand()`); what no random number touches (Schotter's
//! first two rows of squares) comes out byte for byte as Redis draws it, which is what the
//! differential test compares. Floating point follows the C types (`float` where Redis declares
//! one, `double` for the libm calls) so the rounding agrees.

use rand::Rng;

/// Redis's truncated sqrt(2): the exact constant changes which pixels round where, and the
/// drawings must match Redis's (std's SQRT_2 was rejected for that reason).
#[allow(clippy::approx_constant)]
const REDIS_SQRT_2: f64 = 1.4142135623;

const INTEGER_ERROR: &str = "ERR value is not an integer or out of range";

/// A grid of colour indexes (Redis's `lwCanvas`).
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32, background: u8) -> Canvas {
        let len = width.max(0) as usize * height.max(0) as usize;
        Canvas { width, height, pixels: vec![background; len] }
    }

    fn inside(&self, x: i32, y: i32) -> bool {
        x >= 0 && x < self.width && y >= 0 && y < self.height
    }

    fn draw(&mut self, x: i32, y: i32, color: u8) {
        if self.inside(x, y) {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    fn get(&self, x: i32, y: i32) -> u8 {
        if self.inside(x, y) {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham's line, as `lwDrawLine`.
    fn line(&mut self, mut x1: i32, mut y1: i32, x2: i32, y2: i32, color: u8) {
        let dx = (x2 - x1).abs();
        let dy = (y2 - y1).abs();
        let sx = if x1 < x2 { 1 } else { -1 };
        let sy = if y1 < y2 { 1 } else { -1 };
        let mut err = dx - dy;
        loop {
            self.draw(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square of side `size` centred on (x, y), turned by `angle` (`lwDrawSquare`).
    fn square(&mut self, x: i32, y: i32, size: f32, angle: f32, color: u8) {
        // The square inscribed in a circle of radius 1 has side sqrt(2): `size` becomes the
        // factor the unit-circle corners are scaled by.
        let size = ((f64::from(size) / REDIS_SQRT_2) as f32).round();
        let mut k = (std::f64::consts::FRAC_PI_4 + f64::from(angle)) as f32;
        let mut px = [0i32; 4];
        let mut py = [0i32; 4];
        for j in 0..4 {
            px[j] = (f64::from(k).sin() * f64::from(size) + f64::from(x)).round() as i32;
            py[j] = (f64::from(k).cos() * f64::from(size) + f64::from(y)).round() as i32;
            k = (f64::from(k) + std::f64::consts::FRAC_PI_2) as f32;
        }
        for j in 0..4 {
            self.line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color);
        }
    }
}

/// The reply text of `LOLWUT [VERSION v] [args...]`, or the error for a bad number.
pub fn lolwut(args: &[&[u8]]) -> Result<Vec<u8>, &'static str> {
    let mut version = None;
    let mut rest = args;
    if args.len() >= 2 && args[0].eq_ignore_ascii_case(b"version") {
        version = Some(parse_long(args[1])?);
        rest = &args[2..];
    }
    // Redis prints the number as "%u.0.0" and picks by its first characters: 5 and 6 draw, any
    // other (and no VERSION at all, this being 7.0.15) prints the banner alone.
    let mut rng = rand::rng();
    match version {
        Some(5) => schotter_command(rest, &mut rng),
        Some(6) => skyline_command(rest, &mut rng),
        _ => Ok(format!("Redis ver. {}\n", crate::info::REDIS_VERSION).into_bytes()),
    }
}

fn parse_long(arg: &[u8]) -> Result<i64, &'static str> {
    commands::args::parse_i64(arg).ok_or(INTEGER_ERROR)
}

/// The optional numeric arguments, each clamped to `[1, max]` (Redis parses every one given
/// before it clamps, so a bad number anywhere is an error).
fn numeric_args<const N: usize>(args: &[&[u8]], defaults: [i64; N], max: [i64; N]) -> Result<[i64; N], &'static str> {
    let mut values = defaults;
    for (i, arg) in args.iter().take(N).enumerate() {
        values[i] = parse_long(arg)?;
    }
    for (v, m) in values.iter_mut().zip(max) {
        *v = (*v).clamp(1, m);
    }
    Ok(values)
}

fn schotter_command(args: &[&[u8]], rng: &mut impl Rng) -> Result<Vec<u8>, &'static str> {
    let [cols, per_row, per_col] = numeric_args(args, [66, 8, 12], [1000, 200, 200])?;
    let canvas = draw_schotter(cols as i32, per_row as i32, per_col as i32, rng);
    let mut text = render_braille(&canvas);
    text.extend_from_slice(b"\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    text.extend_from_slice(crate::info::REDIS_VERSION.as_bytes());
    text.push(b'\n');
    Ok(text)
}

/// Rows of squares that turn and shift more the lower they are (`lwDrawSchotter`).
fn draw_schotter(console_cols: i32, per_row: i32, per_col: i32, rng: &mut impl Rng) -> Canvas {
    let canvas_width = console_cols * 2;
    let padding = if canvas_width > 4 { 2 } else { 0 };
    let side = (canvas_width - padding * 2) as f32 / per_row as f32;
    let canvas_height = (side * per_col as f32 + (padding * 2) as f32) as i32;
    let mut canvas = Canvas::new(canvas_width, canvas_height, 0);
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut angle = 0.0f32;
            if y > 1 {
                // rand() / RAND_MAX, scaled by how far down the row is, and signed at random.
                let mut jitter = || rng.random::<f32>() / per_col as f32 * y as f32;
                let (r1, r2, r3) = (jitter(), jitter(), jitter());
                let signs: u8 = rng.random();
                let signed = |r: f32, bit: u8| if signs & bit != 0 { -r } else { r };
                angle = signed(r1, 1);
                sx = (sx as f32 + signed(r2, 2) * side / 3.0) as i32;
                sy = (sy as f32 + signed(r3, 4) * side / 3.0) as i32;
            }
            canvas.square(sx, sy, side, angle, 1);
        }
    }
    canvas
}

/// Eight pixels (2 wide, 4 tall) per Braille character, U+2800 plus the dot bits
/// (`renderCanvas` of lolwut5.c).
fn render_braille(canvas: &Canvas) -> Vec<u8> {
    let mut text = Vec::new();
    let mut y = 0;
    while y < canvas.height {
        let mut x = 0;
        while x < canvas.width {
            let dots = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)];
            let mut byte = 0u32;
            for (bit, (dx, dy)) in dots.iter().enumerate() {
                if canvas.get(x + dx, y + dy) != 0 {
                    byte |= 1 << bit;
                }
            }
            let mut utf8 = [0u8; 4];
            let ch = char::from_u32(0x2800 + byte).unwrap_or(' ');
            text.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
            x += 2;
        }
        if y != canvas.height - 1 {
            text.push(b'\n');
        }
        y += 4;
    }
    text
}

fn skyline_command(args: &[&[u8]], rng: &mut impl Rng) -> Result<Vec<u8>, &'static str> {
    let [cols, rows] = numeric_args(args, [80, 20], [1000, 1000])?;
    let mut canvas = Canvas::new(cols as i32, rows as i32, 3);
    draw_skyline(&mut canvas, rng);
    let mut text = render_ansi(&canvas);
    text.extend_from_slice(
        b"\nDedicated to the 8 bit game developers of past and present.\nOriginal 8 bit image from Plaguemon by hikikomori. Redis ver. ",
    );
    text.extend_from_slice(crate::info::REDIS_VERSION.as_bytes());
    text.push(b'\n');
    Ok(text)
}

struct Skyscraper {
    xoff: i32,
    width: i32,
    height: i32,
    windows: bool,
    color: u8,
}

/// One building standing on the bottom row; the roof is two pixels narrower each side, and
/// windows (two pixels wide, one tall) light up at random (`generateSkyscraper`).
fn draw_skyscraper(canvas: &mut Canvas, s: &Skyscraper, rng: &mut impl Rng) {
    let start_y = canvas.height - 1;
    let end_y = start_y - s.height + 1;
    let mut y = start_y;
    while y >= end_y {
        for x in s.xoff..s.xoff + s.width {
            if y == end_y && (x <= s.xoff + 1 || x >= s.xoff + s.width - 2) {
                continue;
            }
            let mut color = s.color;
            if s.windows && x > s.xoff + 1 && x < s.xoff + s.width - 2 && y > end_y + 1 && y < start_y - 1 {
                let rel_x = x - (s.xoff + 1);
                let rel_y = y - (end_y + 1);
                if (rel_x / 2) % 2 != 0 && rel_y % 2 != 0 {
                    loop {
                        color = 1 + rng.random_range(0..2u8);
                        if color != s.color {
                            break;
                        }
                    }
                    if rel_x % 2 != 0 {
                        color = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.draw(x, y, color);
        }
        y -= 1;
    }
}

/// Two rows of grey buildings behind, then black ones with windows (`generateSkyline`).
fn draw_skyline(canvas: &mut Canvas, rng: &mut impl Rng) {
    let h = canvas.height;
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < canvas.width {
            offset += rng.random_range(0..8);
            let width = 10 + rng.random_range(0..9);
            let height =
                if color == 2 { h / 2 + rng.random_range(0..h) / 2 } else { h / 2 + rng.random_range(0..h) / 3 };
            draw_skyscraper(canvas, &Skyscraper { xoff: offset, width, height, windows: false, color }, rng);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < canvas.width {
        offset += rng.random_range(0..8);
        let mut width = 5 + rng.random_range(0..14);
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + rng.random_range(0..h) / 2;
        draw_skyscraper(canvas, &Skyscraper { xoff: offset, width, height, windows: true, color: 0 }, rng);
        offset += width + 5;
    }
}

/// One space per pixel with both colours set, for terminals that differ (`renderCanvas` of
/// lolwut6.c).
fn render_ansi(canvas: &Canvas) -> Vec<u8> {
    let mut text = Vec::new();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            let escape: &[u8] = match canvas.get(x, y) {
                1 => b"0;90;100m",
                2 => b"0;37;47m",
                3 => b"0;97;107m",
                _ => b"0;30;40m",
            };
            text.extend_from_slice(b"\x1b[");
            text.extend_from_slice(escape);
            text.extend_from_slice(b" \x1b[0m");
        }
        if y != canvas.height - 1 {
            text.push(b'\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_banner() {
        let text = lolwut(&[]).expect("banner");
        assert_eq!(text, format!("Redis ver. {}\n", crate::info::REDIS_VERSION).into_bytes());
        // VERSION 7 (or any other) is the banner too; VERSION alone is ignored.
        assert_eq!(lolwut(&[b"version", b"7"]).expect("v7"), text);
        assert_eq!(lolwut(&[b"VERSION"]).expect("bare"), text);
        assert_eq!(lolwut(&[b"version", b"x"]), Err(INTEGER_ERROR));
        assert_eq!(lolwut(&[b"version", b"5", b"10", b"x"]), Err(INTEGER_ERROR));
    }

    #[test]
    fn skyline_has_the_requested_size() {
        let text = lolwut(&[b"version", b"6", b"7", b"3"]).expect("v6");
        let text = String::from_utf8(text).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3 + 2);
        assert!(lines[..3].iter().all(|l| l.matches(' ').count() == 7), "{lines:?}");
        assert!(lines[4].ends_with(crate::info::REDIS_VERSION));
    }

    #[test]
    fn limits_keep_it_cheap() {
        let text = lolwut(&[b"version", b"5", b"100000", b"100000", b"-5"]).expect("clamped");
        // 1000 columns of 200 squares in one row: 1000 Braille characters per line.
        let first = text.split(|&b| b == b'\n').next().expect("a line");
        assert_eq!(first.len(), 1000 * 3);
    }
}
