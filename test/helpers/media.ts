import sharp from 'sharp';

/**
 * A 3000×2000 camera photo (JPEG) stored sideways (EXIF orientation 6) with a camera make and a GPS
 * position: blue on its stored left third, so shown upright the blue is on top.
 */
export function photoWithGps(): Promise<Buffer> {
  return sharp({ create: { width: 3000, height: 2000, channels: 3, background: { r: 200, g: 60, b: 30 } } })
    .composite([{ input: { create: { width: 1000, height: 2000, channels: 3, background: { r: 20, g: 90, b: 200 } } }, left: 0, top: 0 }])
    .withMetadata({ orientation: 6 })
    .withExifMerge({ IFD0: { Make: 'TestCam' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' } })
    .jpeg()
    .toBuffer();
}

/** The top-level boxes of an MP4 in file order (walked by their sizes). */
export function mp4Boxes(bytes: Buffer): string[] {
  const boxes: string[] = [];
  for (let at = 0; at + 8 <= bytes.length;) {
    let size = bytes.readUInt32BE(at);
    if (size === 1) size = Number(bytes.readBigUInt64BE(at + 8));
    if (size === 0) size = bytes.length - at;
    boxes.push(bytes.toString('latin1', at + 4, at + 8));
    at += size;
  }
  return boxes;
}
