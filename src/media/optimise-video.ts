import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { MediaInputError, MissingToolError, OptimiseTimeoutError } from './optimise-errors.js';
import { optimiseImage } from './optimise-image.js';
import { VIDEO_DEMUXERS, describeFile, type OptimiseThreadSettings, type OptimisedMedia } from './optimise-job.js';

/** What ffprobe says about a file, reduced to what the decisions below use. */
interface VideoProbe {
  codec: string;
  pixelFormat: string;
  width: number;
  height: number;
  rotated: boolean;
  audioCodec?: string;
  durationSeconds: number;
  bitsPerSecond: number;
}

/**
 * Above this a stream that is already H.264 is re-encoded anyway: a phone's 1080p is often
 * 15-20 Mbit/s, far more than a demonstration clip needs to be watched on a phone.
 */
const MAX_COPY_BITS_PER_SECOND = 8_000_000;

/** ffprobe's JSON for one file is a few KB; anything past this is not an answer worth parsing. */
const MAX_TOOL_OUTPUT = 1024 * 1024;

/** ffmpeg takes a core from the relay; at this niceness it yields it to the relay's own threads. */
const TOOL_NICENESS = 10;

/**
 * A video rewritten as a faststart MP4 (the index, `moov`, before the media data, so a player starts
 * before the download ends), H.264 + AAC at most `maxSide` on its long side, with every metadata
 * tag (a phone's GPS location among them) dropped; a poster frame with its thumbnail and blurhash.
 * A file that is already H.264/AAC, small enough and not rotated is only remuxed, not re-encoded.
 */
export async function optimiseVideo(
  path: string, type: string, dir: string, settings: OptimiseThreadSettings, deadline: number,
): Promise<OptimisedMedia> {
  const signal = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
  const tools = { settings, signal };
  const source = inputArgs(path, VIDEO_DEMUXERS[type]!);
  const input = await probe(source, tools);
  const out = join(dir, 'video.mp4');
  await run('ffmpeg', settings.ffmpegPath, [
    ...(canCopy(input, settings.maxSide) ? [...source, '-c', 'copy'] : transcodeArgs(source, settings.maxSide)),
    '-map_metadata', '-1', '-map_chapters', '-1', '-movflags', '+faststart', '-f', 'mp4', out,
  ], tools);
  const result = inputArgs(out, 'mov');
  const output = await probe(result, tools);
  const frame = join(dir, 'poster.png');
  // A frame a little in: the very first is often black or a fade-in.
  const at = Math.min(1, output.durationSeconds / 3).toFixed(3);
  await run('ffmpeg', settings.ffmpegPath, ['-ss', at, ...result, '-frames:v', '1', '-map_metadata', '-1', frame], tools);
  const poster = await optimiseImage(frame, 'image/png', dir, 'poster', settings, deadline);
  return {
    kind: 'video',
    optimised: await describeFile(out, 'video/mp4'),
    poster: poster.optimised,
    thumbnail: poster.thumbnail,
    blurhash: poster.blurhash,
    width: output.width,
    height: output.height,
    durationSeconds: output.durationSeconds,
  };
}

function inputArgs(path: string, demuxer: string): string[] {
  return ['-protocol_whitelist', 'file', '-f', demuxer, '-i', path];
}

/** Whether remuxing alone gives a file as good as re-encoding would. */
function canCopy(video: VideoProbe, maxSide: number): boolean {
  return video.codec === 'h264' && video.pixelFormat === 'yuv420p' && !video.rotated
    && Math.max(video.width, video.height) <= maxSide
    && (video.audioCodec === undefined || video.audioCodec === 'aac')
    && video.bitsPerSecond > 0 && video.bitsPerSecond <= MAX_COPY_BITS_PER_SECOND;
}

function transcodeArgs(source: string[], maxSide: number): string[] {
  // ffmpeg applies the rotation first, so the scale below works on the picture as it is shown.
  // x264 needs even dimensions; yuv420p is what every browser and phone decodes.
  const scale = `scale=w='min(${maxSide},iw)':h='min(${maxSide},ih)':force_original_aspect_ratio=decrease:force_divisible_by=2,format=yuv420p`;
  return [
    '-threads', '1', ...source, '-map', '0:v:0', '-map', '0:a:0?', '-vf', scale,
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-threads', '1',
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
  ];
}

interface ToolContext {
  settings: OptimiseThreadSettings;
  signal: AbortSignal;
}

interface ProbeJson {
  streams?: { codec_type?: string; codec_name?: string; pix_fmt?: string; width?: number; height?: number;
    side_data_list?: { rotation?: number }[]; tags?: { rotate?: string } }[];
  format?: { duration?: string; bit_rate?: string };
}

async function probe(source: string[], tools: ToolContext): Promise<VideoProbe> {
  const stdout = await run('ffprobe', tools.settings.ffprobePath,
    ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ...source], tools);
  let json: ProbeJson;
  try {
    json = JSON.parse(stdout) as ProbeJson;
  } catch {
    throw new MediaInputError('the video could not be read: ffprobe gave no description of it');
  }
  const video = json.streams?.find((s) => s.codec_type === 'video');
  if (!video?.width || !video.height) throw new MediaInputError('the file has no video stream');
  const rotation = video.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? Number(video.tags?.rotate ?? 0);
  const quarterTurn = Math.abs(rotation) % 180 === 90;
  return {
    codec: video.codec_name ?? '',
    pixelFormat: video.pix_fmt ?? '',
    // Shown size: a phone's portrait clip is stored landscape with a quarter-turn rotation.
    width: quarterTurn ? video.height : video.width,
    height: quarterTurn ? video.width : video.height,
    rotated: rotation % 360 !== 0,
    audioCodec: json.streams?.find((s) => s.codec_type === 'audio')?.codec_name,
    durationSeconds: Number(json.format?.duration ?? 0) || 0,
    bitsPerSecond: Number(json.format?.bit_rate ?? 0) || 0,
  };
}

/**
 * Runs ffmpeg or ffprobe on files (never a pipe of the media itself) and resolves with its stdout;
 * killed with SIGKILL once the job's time is up. Missing binary, failure and timeout are each typed.
 */
function run(tool: 'ffmpeg' | 'ffprobe', binary: string, args: string[], tools: ToolContext): Promise<string> {
  const fullArgs = tool === 'ffmpeg' ? ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args] : args;
  return new Promise((resolve, reject) => {
    const child = spawn(binary, fullArgs, { stdio: ['ignore', 'pipe', 'pipe'], signal: tools.signal, killSignal: 'SIGKILL' });
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, TOOL_NICENESS);
      } catch {
        // Lowering a child's priority is allowed everywhere we know of; if not, it runs at ours.
      }
    }
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < MAX_TOOL_OUTPUT) stdout += d.toString();
    });
    // Only the end of stderr is kept: it holds the reason ffmpeg gave up.
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES') reject(new MissingToolError(binary === tool ? tool : `${tool} at ${binary}`));
      else if (err.name === 'AbortError') reject(new OptimiseTimeoutError(tools.settings.timeoutSeconds));
      else reject(err);
    });
    child.on('close', (code) => {
      if (tools.signal.aborted) return reject(new OptimiseTimeoutError(tools.settings.timeoutSeconds));
      if (code === 0) return resolve(stdout);
      const reason = stderr.trim().split('\n').pop() || `exit code ${code}`;
      reject(new MediaInputError(`the video could not be read: ${tool}: ${reason}`));
    });
  });
}
