// Tests only: Express 4, installed as the alias "express4", typed like Express 5 (the parts used are the same).
declare module "express4" {
  import express from "express";
  export default express;
}
