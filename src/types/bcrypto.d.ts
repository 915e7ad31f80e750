/** The part of bcrypto this project uses: BIP-340 Schnorr over secp256k1 (native, built by node-gyp). */
declare module 'bcrypto/lib/schnorr.js' {
  const schnorr: {
    /** 1 or 2 when the native backend is loaded, 0 for the JavaScript fallback. */
    native: number;
    verify(msg: Buffer, sig: Buffer, key: Buffer): boolean;
    sign(msg: Buffer, key: Buffer, aux?: Buffer): Buffer;
    publicKeyCreate(key: Buffer): Buffer;
    privateKeyVerify(key: Buffer): boolean;
  };
  export default schnorr;
}
